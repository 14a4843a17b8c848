"""End-to-end training on real (tiny) data: exact resume, NaN stop, export round trip."""

import lightning as L
import pytest
import torch

from selfsup.export import load_encoder, read_metadata
from selfsup.train.config_loader import load_run_config
from selfsup.train.lightning_module import NonFiniteLossError
from selfsup.train.pretrain import pretrain
from selfsup.train.train_stats import load_train_stats

TINY = [
    "data.name=digits",
    "backbone=resnet_small",
    "backbone_kwargs={width: 4, depths: [1, 1, 1, 1]}",
    "method.proj_hidden_dim=16",
    "method.proj_out_dim=8",
    "method.views.blur_p=0.0",
    "train.batch_size=32",
    "train.precision=32-true",
    "train.progress_bar=false",
    "train.log_every=1",
    "optim.warmup_epochs=0.1",
]


def tiny_config(tmp_path, *extra):
    return load_run_config(None, [*TINY, f"train.out_dir={tmp_path}", *extra], method="simclr")


class StopAt(L.Callback):
    """Simulates a crash: raises before the batch of optimizer step ``step``."""

    def __init__(self, step: int, action=None):
        self.step = step
        self.action = action

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            if self.action is None:
                raise RuntimeError("simulated crash")
            self.action(pl_module)


def params(method):
    return {k: v.detach().clone() for k, v in method.state_dict().items()}


def test_resume_is_exact(tmp_path):
    straight = pretrain(tiny_config(tmp_path / "a", "train.max_steps=8", "train.checkpoint_every=4"))
    cfg = tiny_config(tmp_path / "b", "train.max_steps=8", "train.checkpoint_every=4", "train.run_name=b")
    with pytest.raises(RuntimeError, match="simulated crash"):
        pretrain(cfg, callbacks=[StopAt(5)])
    ckpt = tmp_path / "b" / "b" / "checkpoints" / "step-0000004.ckpt"
    assert ckpt.is_file()
    resumed = pretrain(cfg, resume=ckpt)
    assert resumed.run_dir == straight.run_dir.parent.parent / "b" / "b"
    a, b = params(straight.method), params(resumed.method)
    assert a.keys() == b.keys()
    assert (resumed.run_dir / "logs" / "version_1" / "metrics.csv").is_file()  # first segment's log kept
    assert (resumed.run_dir / "logs" / "version_0" / "metrics.csv").is_file()
    assert load_train_stats(resumed.run_dir)["steps"] == 4  # the resumed segment: steps 4..8
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"{key} differs after resume")
    # A run that is actually different (another seed) does not match: the check can fail.
    other = pretrain(tiny_config(tmp_path / "c", "train.max_steps=8", "train.seed=1"))
    assert any(not torch.equal(a[k], v) for k, v in params(other.method).items())


def poison(pl_module):
    with torch.no_grad():
        next(pl_module.method.head.parameters()).fill_(float("nan"))


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, "train.max_steps=6", "train.checkpoint_every=2", "train.run_name=nan")
    with pytest.raises(NonFiniteLossError, match="at step 3") as info:
        pretrain(cfg, callbacks=[StopAt(3, poison)])
    assert "last good checkpoint" in str(info.value)
    ckpts = tmp_path / "nan" / "checkpoints"
    assert (ckpts / "step-0000002.ckpt").is_file()
    state = torch.load(ckpts / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())


def test_run_dir_contents_and_encoder_round_trip(tmp_path):
    result = pretrain(tiny_config(tmp_path, "train.max_steps=3", "train.run_name=rt"))
    run = result.run_dir
    for name in (
        "config.yaml",
        "derived.json",
        "encoder.safetensors",
        "encoder.json",
        "logs/version_0/metrics.csv",
        "train_stats.json",
    ):
        assert (run / name).is_file(), name
    stats = load_train_stats(run)
    assert stats["steps"] == 3 and stats["global_batch"] == 32 and stats["memory_kind"] == "cpu_max_rss"
    assert stats["images_per_second"] == pytest.approx(3 * 32 / stats["fit_seconds"], rel=0.01)
    assert stats["peak_memory_mb"] > 50  # the process's resident set, torch included
    assert (run / "checkpoints" / "last.ckpt").is_file()
    header = (run / "logs" / "version_0" / "metrics.csv").read_text().splitlines()[0]
    assert "train/loss" in header and "train/contrastive_acc" in header
    assert "train/quality/rankme" in header and "train/quality/uniformity" in header
    encoder = load_encoder(result.encoder_path)
    meta = read_metadata(result.encoder_path)
    assert meta["method"] == "simclr" and meta["image_size"] == 8 and meta["mean"] == [0.5]
    x = torch.randn(5, 1, 8, 8)
    result.method.encoder.eval()
    torch.testing.assert_close(encoder(x), result.method.encoder(x))
    # the run's config reloads to the same config
    assert load_run_config(run / "config.yaml") == result_config(tmp_path)


def result_config(tmp_path):
    return tiny_config(tmp_path, "train.max_steps=3", "train.run_name=rt")


def test_loss_decreases_on_real_digits(tmp_path):
    result = pretrain(tiny_config(tmp_path, "train.max_steps=40", "optim.lr=0.5", "train.run_name=dec"))
    import csv

    rows = list(csv.DictReader(open(result.run_dir / "logs" / "version_0" / "metrics.csv")))
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    assert len(losses) >= 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.1


def test_time_budget_fixes_the_step_count_once(tmp_path):
    import json

    cfg = tiny_config(tmp_path, "train.epochs=50", "train.time_budget_minutes=0.02", "train.run_name=budget")
    result = pretrain(cfg)
    derived = json.loads((result.run_dir / "derived.json").read_text())
    planned = 50 * derived["steps_per_epoch"]
    assert 1 <= derived["total_steps"] < planned  # 1.2 s cannot hold 50 epochs
    state = torch.load(result.run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == derived["total_steps"]
    assert derived["warmup_steps"] < derived["total_steps"] or derived["total_steps"] == 1


def test_online_knn_monitor_logs_accuracy_on_validation_never_test(tmp_path, monkeypatch):
    import csv

    import selfsup.train.online_knn as online_knn

    real = online_knn.create_dataset

    def train_split_only(name, split, **kw):
        assert split == "train", "the online monitor must not look at the test split"
        return real(name, split, **kw)

    monkeypatch.setattr(online_knn, "create_dataset", train_split_only)

    cfg = tiny_config(
        tmp_path,
        "train.max_steps=4",
        "train.online_knn_every=2",
        "train.online_knn_items=200",
        "train.run_name=knn",
    )
    result = pretrain(cfg)
    rows = list(csv.DictReader(open(result.run_dir / "logs" / "version_0" / "metrics.csv")))
    values = [float(r["online/knn"]) for r in rows if r.get("online/knn")]
    assert len(values) == 2 and all(0.1 < v <= 1.0 for v in values)  # digits: well above 10 % chance


def test_fsdp_needs_transformer_blocks_and_fails_before_any_set_up(tmp_path):
    cfg = tiny_config(tmp_path, "train.strategy=fsdp", "train.run_name=cnn")
    with pytest.raises(ValueError, match="has none; use a timm ViT backbone or train.strategy=ddp"):
        pretrain(cfg)
    assert not (tmp_path / "cnn").exists()  # raised before the run directory or a process group existed


def test_channels_last_and_compile_are_applied_to_the_trained_method(tmp_path, monkeypatch):
    # Recorded, not run: the conversions themselves are tested in test_device_options (channels_last is a
    # CUDA option, ignored on the CPU), and compiling would take minutes here.
    from selfsup.train import lightning_module
    from selfsup.train import pretrain as pretrain_module

    formats, compiled = [], []
    monkeypatch.setattr(pretrain_module, "apply_memory_format", lambda *a: formats.append(a) or False)
    monkeypatch.setattr(lightning_module, "compile_method", lambda m: compiled.append(m) or 1)
    cfg = tiny_config(
        tmp_path,
        "train.max_steps=2",
        "train.channels_last=true",
        "train.compile=true",
        "train.accelerator=cpu",
        "train.run_name=gpu",
    )
    result = pretrain(cfg)
    # once each, on the method that trained; the device type is train.accelerator's
    assert len(formats) == 1 and formats[0][0] is result.method and formats[0][1:] == (True, "cpu")
    assert len(compiled) == 1 and compiled[0] is result.method


def test_launched_ranks_use_the_run_dir_and_steps_rank_0_chose(tmp_path, monkeypatch):
    """Lightning re-runs the command for ranks 1..N-1: they must not pick a new timestamped directory
    (the clock moved on) or a new step count (their own time-budget calibration) of their own."""
    import os

    from selfsup.train.run_dir import RUN_DIR_ENV, shared_with_launched_ranks

    first = pretrain(tiny_config(tmp_path, "train.max_steps=3"))
    assert RUN_DIR_ENV not in os.environ  # set only while trainer.fit runs (when ranks are launched)
    with shared_with_launched_ranks(first.run_dir):
        assert os.environ[RUN_DIR_ENV] == str(first.run_dir)
        second = pretrain(tiny_config(tmp_path, "train.max_steps=5"))
    assert RUN_DIR_ENV not in os.environ
    assert second.run_dir == first.run_dir and second.derived == first.derived
    monkeypatch.setenv(RUN_DIR_ENV, str(tmp_path / "nothing-here"))  # no derived.json: not inherited
    third = pretrain(tiny_config(tmp_path, "train.max_steps=2"))
    assert third.run_dir != first.run_dir and third.derived.total_steps == 2
