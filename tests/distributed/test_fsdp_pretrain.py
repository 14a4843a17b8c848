"""``pretrain()`` with ``train.strategy=fsdp`` on 2 CPU gloo ranks: the same run as ``train.strategy=ddp``.

DINO (a tiny timm ViT on real digits) exercises everything the fsdp path must get right: AdamW built over
the sharded parameters, gradient-norm clipping of ``DTensor`` gradients (``optim.grad_clip``, set low so it
clips every step), the EMA teacher and the all-reduced teacher center in the method hooks, the
scheduled weight decay, and the gathered export. FSDP averages gradients over ranks exactly as DDP does,
so after the same steps the exported teacher encoders agree to float32 reduction-order noise (tolerance as
``test_fsdp.py``), the logged gradient norms (before clipping) agree, and the export loads with
``selfsup.load_encoder``. The fsdp runs use ``train.activation_checkpointing`` (recomputation changes no
number). An fsdp run interrupted after a checkpoint and resumed from it ends where the
uninterrupted fsdp run ends.

Each rank runs Lightning as if launched externally (``LOCAL_RANK`` set, process group already joined):
Lightning then launches no processes and reuses the group ``run_gloo`` made.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import lightning as L
import pytest
import torch
from distributed_helpers import run_gloo
from torch.distributed._composable.contract import _get_registry

from selfsup.export import load_encoder
from selfsup.runs import export_from_checkpoint
from selfsup.train.config_loader import load_run_config
from selfsup.train.fsdp import transformer_blocks
from selfsup.train.pretrain import pretrain
from selfsup.train.train_stats import load_train_stats

TOL = {"rtol": 1e-4, "atol": 1e-6}  # as test_fsdp.py: float32 reduction order across ranks
STEPS = 4
TINY_DINO = [
    "data.name=digits",
    "data.image_size=16",
    "backbone=timm:vit_tiny_patch16_224",
    "backbone_kwargs={patch_size: 4, embed_dim: 16, depth: 2, num_heads: 2, dynamic_img_size: true}",
    "method.out_dim=32",
    "method.hidden_dim=16",
    "method.bottleneck_dim=8",
    "method.n_local_crops=2",
    "method.local_size=8",
    "method.freeze_last_layer_epochs=0.0",
    "method.momentum_teacher=0.9",  # the EMA teacher moves visibly in 4 steps
    "method.eval_encoder=student",  # export the directly trained backbone
    "optim.name=adamw",
    "optim.lr=0.01",
    "optim.weight_decay=0.04",
    "optim.final_weight_decay=0.4",
    "optim.warmup_epochs=0.0",
    "optim.grad_clip=0.05",
    "train.batch_size=8",
    "train.accelerator=cpu",
    "train.devices=2",
    "train.precision=32-true",
    "train.progress_bar=false",
    "train.log_every=1",
    "train.quality_every=0",
    f"train.max_steps={STEPS}",
    "train.checkpoint_every=2",
    "train.online_knn_every=2",
    "train.online_knn_items=200",
]


class CrashAt(L.Callback):
    """Raises before the batch of optimizer step ``step`` (on every rank: a whole-job crash)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise RuntimeError("simulated crash")


class Probe(L.Callback):
    """Records what training actually ran on: strategy, parameter and optimizer-state types."""

    def __init__(self) -> None:
        self.seen: dict = {}
        self.initial: dict = {}

    def on_train_start(self, trainer, pl_module):
        if not pl_module.sharded:
            self.initial = {k: v.detach().clone() for k, v in pl_module.method.state_dict().items()}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        params = [p for g in optimizer.param_groups for p in g["params"]]
        blocks = transformer_blocks(pl_module.method)
        self.seen = {
            "strategy": type(trainer.strategy).__name__,
            "dtensor_params": sum(type(p).__name__ == "DTensor" for p in pl_module.method.parameters()),
            "params": sum(1 for _ in pl_module.method.parameters()),
            "dtensor_in_optimizer": all(type(p).__name__ == "DTensor" for p in params),
            "blocks": len(blocks),
            "checkpointed": sum("checkpoint" in (_get_registry(b) or {}) for b in blocks),
        }


def _config(out_dir: str, strategy: str, name: str):
    overrides = [
        *TINY_DINO,
        f"train.out_dir={out_dir}",
        f"train.strategy={strategy}",
        f"train.run_name={name}",
    ]
    if strategy == "fsdp":  # recomputation changes no number: the runs must still match DDP
        overrides.append("train.activation_checkpointing=true")
    return load_run_config(None, overrides, method="dino")


def _logged(run_dir: Path, key: str) -> list[float]:
    with open(run_dir / "logs" / "version_0" / "metrics.csv") as f:
        return [float(r[key]) for r in csv.DictReader(f) if r.get(key)]


def _rank(rank: int, world: int, out_dir: str, resume: bool) -> dict:
    os.environ["LOCAL_RANK"] = str(rank)  # Lightning: processes are launched externally, do not spawn
    os.environ["NODE_RANK"] = "0"
    runs = {}
    seen = {}
    for strategy in ("ddp", "fsdp"):
        probe = Probe()
        result = pretrain(_config(out_dir, strategy, strategy), callbacks=[probe])
        runs[strategy] = {k: v.detach().clone() for k, v in result.method.state_dict().items()}
        seen[strategy] = probe.seen
        if strategy == "ddp":
            initial = probe.initial
    out = {"runs": runs, "seen": seen, "initial": initial}
    if resume:
        cfg = _config(out_dir, "fsdp", "fsdp_resumed")
        try:
            pretrain(cfg, callbacks=[CrashAt(3)])
        except RuntimeError as err:
            assert "simulated crash" in str(err)
        ckpt = Path(out_dir) / "fsdp_resumed" / "checkpoints" / "step-0000002.ckpt"
        result = pretrain(cfg, resume=ckpt)
        out["resumed"] = {k: v.detach().clone() for k, v in result.method.state_dict().items()}
        out["resumed_steps"] = int(torch.load(ckpt, weights_only=True, map_location="cpu")["global_step"])
    return out


@pytest.mark.slow
@pytest.mark.multiprocess
def test_fsdp_pretrain_matches_ddp_and_resumes(tmp_path: Path) -> None:
    ranks = run_gloo(_rank, 2, str(tmp_path), True, timeout=240, preimport=("torch._dynamo",))
    ddp_dir, fsdp_dir = tmp_path / "ddp", tmp_path / "fsdp"
    seen = ranks[0]["seen"]
    assert seen["ddp"]["strategy"] == "DDPStrategy" and seen["ddp"]["dtensor_params"] == 0
    assert seen["fsdp"]["strategy"] == "ModelParallelStrategy"
    assert seen["fsdp"]["dtensor_params"] == seen["fsdp"]["params"] > 0  # every parameter is a shard
    assert seen["fsdp"]["dtensor_in_optimizer"]  # the optimizer was built over the shards
    assert seen["fsdp"]["checkpointed"] == seen["fsdp"]["blocks"] == 4  # student + teacher, 2 blocks each
    assert seen["ddp"]["checkpointed"] == 0

    # The exported encoders (written by rank 0 from the gathered weights) agree, and load as plain modules.
    ddp_enc, fsdp_enc = (
        load_encoder(ddp_dir / "encoder.safetensors"),
        load_encoder(fsdp_dir / "encoder.safetensors"),
    )
    want, got = ddp_enc.state_dict(), fsdp_enc.state_dict()
    assert want.keys() == got.keys()
    for k, v in want.items():
        torch.testing.assert_close(got[k], v, **TOL, msg=lambda m, k=k: f"{k}: {m}")
        assert torch.equal(v, ranks[0]["runs"]["ddp"][f"encoder.{k}"]), k  # the export is rank 0's weights
    assert not any(type(p).__name__ == "DTensor" for p in fsdp_enc.parameters())
    x = torch.rand(3, 1, 16, 16)
    torch.testing.assert_close(fsdp_enc(x), ddp_enc(x), rtol=1e-4, atol=1e-5)

    # The whole method state (student, EMA teacher, heads, DINO center) agrees with DDP's, and training
    # moved it far beyond the tolerance (the comparison can fail). Every rank ends with the same full
    # weights: PretrainResult.method is the gathered, unsharded copy.
    initial, ddp_state, fsdp_state = ranks[0]["initial"], ranks[0]["runs"]["ddp"], ranks[0]["runs"]["fsdp"]
    assert ddp_state.keys() == fsdp_state.keys() == initial.keys()
    for k, v in ddp_state.items():
        if v.is_floating_point():
            torch.testing.assert_close(fsdp_state[k], v, **TOL, msg=lambda m, k=k: f"{k}: {m}")
        else:
            assert torch.equal(fsdp_state[k], v), k
        assert torch.equal(ranks[1]["runs"]["fsdp"][k], fsdp_state[k]), k
        assert type(fsdp_state[k]).__name__ == "Tensor"
    for prefix in ("encoder.", "teacher_backbone.", "teacher_head.", "loss_fn.center"):
        keys = [k for k in initial if k.startswith(prefix) and initial[k].is_floating_point()]
        assert keys, prefix
        change = max(float((ddp_state[k] - initial[k]).abs().max()) for k in keys)
        assert change > 100 * TOL["atol"], f"{prefix} did not train ({change})"

    # Gradient norms before clipping (logged every step) match DDP's, and exceed the clip threshold, so
    # clipping of the sharded gradients took part in every step.
    g_ddp, g_fsdp = _logged(ddp_dir, "train/grad_norm"), _logged(fsdp_dir, "train/grad_norm")
    assert len(g_ddp) == len(g_fsdp) == STEPS
    assert g_fsdp == pytest.approx(g_ddp, rel=1e-4)
    assert min(g_fsdp) > 0.05

    # The online kNN monitor (steps 2 and 4) evaluates the gathered encoder: the same accuracy as DDP's
    # (200 queries; nearly equal weights may flip at most one neighbour vote).
    knn_ddp, knn_fsdp = _logged(ddp_dir, "online/knn"), _logged(fsdp_dir, "online/knn")
    assert len(knn_ddp) == len(knn_fsdp) == 2
    assert knn_fsdp == pytest.approx(knn_ddp, abs=0.006)

    # Lightning's checkpoints with fsdp are single full files with the same keys as DDP's (the gathered
    # copy the monitor used is not part of the model).
    def ckpt_keys(run_dir: Path) -> set[str]:
        return set(torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"])

    assert ckpt_keys(fsdp_dir) == ckpt_keys(ddp_dir) == {f"method.{k}" for k in initial}
    exported = load_encoder(export_from_checkpoint(fsdp_dir / "checkpoints" / "last.ckpt", tmp_path / "re"))
    for k, v in exported.state_dict().items():
        assert torch.equal(v, got[k]), k  # `selfsup export` of the fsdp checkpoint == the run's export

    # train_stats.json (throughput of the fsdp segment) is written as for any run
    assert load_train_stats(fsdp_dir)["steps"] == STEPS

    # Resume: crash at step 3, resume from the step-2 checkpoint (a full single-file checkpoint), end at
    # the same weights as the uninterrupted fsdp run.
    assert ranks[0]["resumed_steps"] == 2
    assert (tmp_path / "fsdp_resumed" / "checkpoints" / "step-0000002.ckpt").is_file()
    for k, v in ranks[0]["runs"]["fsdp"].items():
        torch.testing.assert_close(ranks[0]["resumed"][k], v, rtol=0, atol=0, msg=lambda m, k=k: f"{k}: {m}")
