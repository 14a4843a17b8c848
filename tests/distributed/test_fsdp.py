"""FSDP2 on CPU (gloo, 2 ranks) for ViT methods: 2 sharded training steps == 2 single-process steps on the
concatenated batches (same views), with and without activation checkpointing; wrapping and errors."""

from __future__ import annotations

import copy

import pytest
import torch
from ddp_method_cases import W, case, global_batch, split_batch
from distributed_helpers import run_gloo

from selfsup.backbones import create_backbone
from selfsup.registry import create_method
from selfsup.train.fsdp import full_state_dict, shard_method, transformer_blocks
from selfsup.types import Progress

STEPS = 2
TOL = {"rtol": 1e-4, "atol": 1e-6}  # float32 reduction order: DINO's head bias differs by ~1.2e-5 relative


def _train(method, batches) -> tuple[list[float], list[int]]:
    """SGD with momentum (the second step uses the sharded momentum buffers); returns the losses and the
    forward calls of [trained, frozen] transformer blocks (activation checkpointing recomputes trained ones)."""
    calls = [0, 0]
    for block in transformer_blocks(method):
        i = 0 if any(p.requires_grad for p in block.parameters()) else 1
        block.register_forward_pre_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    opt = torch.optim.SGD(method.param_groups(weight_decay=1e-4), lr=0.1, momentum=0.9)
    losses = []
    for step, batch in enumerate(batches):
        progress = Progress(step, 10)
        opt.zero_grad(set_to_none=True)
        loss = method.training_step(batch, progress).loss
        loss.backward()
        method.after_backward(progress)
        opt.step()
        method.after_optimizer_step(progress)
        losses.append(float(loss.detach()))
    return losses, calls


def _rank(rank: int, world: int, name: str, init: dict, halves: list, checkpointing: bool) -> dict:
    method = case(name).build()
    method.load_state_dict(init)
    method.train()
    shard_method(method, activation_checkpointing=checkpointing)
    sharded = sum(type(p).__name__ == "DTensor" for p in method.parameters())
    losses, calls = _train(method, [h[rank] for h in halves])
    return {"losses": losses, "state": full_state_dict(method), "sharded": sharded, "calls": calls}


@pytest.mark.multiprocess
@pytest.mark.parametrize(("name", "checkpointing"), [("mae", False), ("dino", True)])
def test_fsdp_two_ranks_match_one_process(name: str, checkpointing: bool) -> None:
    method = case(name).build()
    init = copy.deepcopy(method.state_dict())
    g = torch.Generator().manual_seed(0)
    batches = []
    for step in range(STEPS):  # different images and views per step
        b = global_batch(name, method)
        perm = torch.randperm(b.views[0].shape[0], generator=g) if step else None
        if perm is not None:
            b.views = [v[perm] for v in b.views]
            b.targets = {k: t[perm] for k, t in b.targets.items()}
        batches.append(b)
    halves = [split_batch(b, name) for b in batches]

    ranks = run_gloo(_rank, W, name, init, halves, checkpointing, timeout=120)
    ref = case(name).build()
    ref.load_state_dict(init)
    ref.train()
    ref_losses, ref_calls = _train(ref, batches)

    n_params = sum(1 for _ in ref.parameters())
    assert ranks[0]["sharded"] == n_params  # every parameter is a shard: blocks and the root unit
    # Checkpointing runs every trained block's forward again in backward (frozen EMA blocks keep no graph);
    # without it, FSDP runs each block exactly as often as one process does.
    trained, frozen = ref_calls
    assert trained > 0
    assert ranks[0]["calls"] == [2 * trained if checkpointing else trained, frozen]
    for step in range(STEPS):  # the mean of the ranks' per-sample-mean losses is the 2B loss
        got = (ranks[0]["losses"][step] + ranks[1]["losses"][step]) / 2
        assert got == pytest.approx(ref_losses[step], rel=1e-5)
    want = ref.state_dict()
    for k, v in want.items():
        for r in range(W):
            got = ranks[r]["state"][k]
            if v.is_floating_point():
                torch.testing.assert_close(got, v, **TOL, msg=lambda m, k=k, r=r: f"rank {r} {k}: {m}")
            else:
                assert torch.equal(got, v), k


def test_shard_method_needs_transformer_blocks() -> None:
    backbone = create_backbone("resnet_small", in_chans=1, width=4, depths=[1, 1])
    method = create_method("rotation", backbone)
    with pytest.raises(ValueError, match="train.strategy=ddp"):
        shard_method(method)


def _gather_rank(rank: int, world: int, init: dict, tmp: str) -> dict:
    from selfsup.train.checkpoint import export_method
    from selfsup.train.config_loader import load_run_config
    from selfsup.train.fsdp import gather_into, is_sharded

    method = case("mae").build()
    method.load_state_dict(init)
    shard_method(method)
    plain = case("mae").build() if rank == 0 else None  # rank 1 only takes part in the gather
    gather_into(method, plain)
    try:
        export_method(method, load_run_config(None, [], method="mae"), tmp, 16, 0)
        refused = ""
    except ValueError as err:
        refused = str(err)
    return {
        "sharded": [is_sharded(method), plain is not None and is_sharded(plain)],
        "state": plain.state_dict() if plain is not None else {},
        "refused": refused,
    }


@pytest.mark.multiprocess
def test_gather_into_a_plain_copy_and_export_refuses_shards(tmp_path) -> None:
    method = case("mae").build()
    with torch.no_grad():
        for p in method.parameters():
            p.add_(torch.randn_like(p))  # a state no fresh build() has
    init = copy.deepcopy(method.state_dict())
    ranks = run_gloo(_gather_rank, W, init, str(tmp_path / "enc"), timeout=120)
    assert ranks[0]["sharded"] == [True, False] and ranks[1]["state"] == {}
    assert init.keys() == ranks[0]["state"].keys()
    for k, v in init.items():
        assert torch.equal(ranks[0]["state"][k], v), k
    for r in ranks:  # export of the sharded module is refused with the fix named
        assert "gather its full weights first" in r["refused"]
    assert not (tmp_path / "enc.safetensors").exists()
