"""Every registered method, one training step on 2 gloo ranks (batch B each, gradients averaged as DDP does)
against 1 process on the concatenated 2B batch with the very same views.

The views are made once, in this process, from the 2B images with one fixed generator, and each rank gets
its half (``ddp_method_cases.Case`` says how each batch entry splits). Both runs then do what the trainer
does: ``training_step`` -> ``backward`` -> (ranks: average the gradients) -> ``after_backward`` -> SGD step
-> ``after_optimizer_step``, and the whole state dict (parameters, EMA copies, queues, centers, priors) is
compared. Variants per method:

- ``eval_bn``: batch norm layers in eval mode (normalization is then per-sample), so the comparison tests
  the method's cross-rank semantics alone. Expect equality with the 2B run (``expect="global"``) or with the
  mean of the two halves' steps (``expect="per_rank"``: CPC, whose negatives are the rank's own patches).
- ``train_bn`` (methods with batch norm): per-rank BN statistics, as DDP without SyncBatchNorm (which
  needs a GPU in torch 2.14: ``SyncBatchNorm expected input tensor to be on GPU``). The 2B run normalizes
  over 2B samples, so it differs; where no loss term couples the ranks it equals the ghost-batch reference
  (mean of the halves' steps), otherwise we check the loss is finite and the ranks stay in sync.
- ``no_gather`` (SimCLR): the loss with ``gather=False`` must *differ* from the 2B run — the test can see a
  missing gather.
- ``own_codebook`` (video colorization): each rank fits its k-means colour codebook on its own B pairs.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributed as dist
from ddp_method_cases import CASES, W, case, global_batch, split_batch
from distributed_helpers import run_gloo
from torch import Tensor

from selfsup.methods.base import Method
from selfsup.registry import list_methods
from selfsup.types import Batch, Progress

LR = 0.5
# float32 sums run in another order in one process than through an all-reduce: most parameters agree
# to <= 6e-8, but DINO's large head bias (|b| ~ 13) after one step differs by up to 1.2e-5 relative.
TOL = {"rtol": 1e-4, "atol": 1e-6}
DIFFERS = 1e-5  # a parameter this far from the reference is a real difference
_BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


# -- one step, as the trainer does it -------------------------------------------------------------------


def _has_bn(method: Method) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in method.modules())


def _fresh(name: str, init_state: dict[str, Tensor], variant: str) -> Method:
    method = case(name).build()
    method.load_state_dict(init_state)
    method.train()
    if variant != "train_bn":
        for m in method.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()  # running statistics: a per-sample affine map, the same on every rank
    if variant == "no_gather":
        method.loss_fn.gather = False
    if variant == "own_codebook":
        method.centroids.zero_()
        method.centroids_ready.fill_(False)
    return method


def _average_gradients(method: Method) -> None:
    """DDP's reduction: mean over ranks of every gradient (the same parameters must have one everywhere)."""
    params = [p for p in method.parameters() if p.requires_grad]
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.uint8)
    every = [torch.empty_like(has) for _ in range(dist.get_world_size())]
    dist.all_gather(every, has)
    assert all(torch.equal(h, has) for h in every), "ranks produced gradients for different parameters"
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= dist.get_world_size()


def _step(method: Method, batches: list[Batch], distributed: bool = False) -> tuple[float, dict[str, Tensor]]:
    """One optimizer step; with several batches, the mean of their losses (a ghost-batch reference)."""
    opt = torch.optim.SGD(method.param_groups(weight_decay=1e-4), lr=LR, momentum=0.9)
    progress = Progress(0, 10)
    losses = []
    for batch in batches:
        loss = method.training_step(batch, progress).loss
        (loss / len(batches)).backward()
        losses.append(float(loss.detach()))
    if distributed:
        _average_gradients(method)
    method.after_backward(progress)
    opt.step()
    method.after_optimizer_step(progress)
    state = {k: v.detach().clone() for k, v in method.state_dict().items()}
    return sum(losses) / len(losses), state


def _rank(rank: int, world: int, name: str, variants: list[str], init: dict, halves: list[Batch]) -> dict:
    out = {}
    for variant in variants:
        method = _fresh(name, init, variant)
        batch = halves[rank]
        if variant == "own_codebook":
            g = torch.Generator().manual_seed(100 + rank)
            with torch.no_grad():
                batch = method.make_batch(batch.images, generator=g)
        loss, state = _step(method, [batch], distributed=True)
        out[variant] = {"loss": loss, "state": state}
    return out


# -- comparisons ---------------------------------------------------------------------------------------


def _keys(state: dict[str, Tensor], variant: str) -> list[str]:
    skip = _BN_BUFFERS if variant == "train_bn" else ()
    return [k for k in state if not k.endswith(skip)]


def _assert_states_close(got: dict, want: dict, variant: str, what: str) -> None:
    for k in _keys(want, variant):
        g, w = got[k], want[k]
        if w.is_floating_point():
            torch.testing.assert_close(g, w, **TOL, msg=lambda m, k=k: f"{what}: {k}: {m}")
        else:
            assert torch.equal(g, w), f"{what}: {k} differs"


def _max_param_diff(a: dict, b: dict, variant: str) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in _keys(b, variant) if b[k].is_floating_point())


def _variants(name: str, method: Method) -> list[str]:
    v = ["eval_bn"]
    if _has_bn(method):
        v.append("train_bn")
    if name == "simclr":
        v.append("no_gather")
    if name == "video_colorization":
        v.append("own_codebook")
    return v


@pytest.mark.multiprocess
@pytest.mark.parametrize("name", [c.name for c in CASES], ids=[c.name for c in CASES])
def test_two_ranks_match_one_process(name: str) -> None:
    c = case(name)
    method = c.build()
    batch = global_batch(name, method)  # video_colorization fits its codebook here, on all 2B pairs
    init = copy.deepcopy(method.state_dict())
    halves = split_batch(batch, name)
    variants = _variants(name, method)
    ranks = run_gloo(_rank, W, name, variants, init, halves, timeout=120)

    for variant in variants:
        r0, r1 = ranks[0][variant], ranks[1][variant]
        rank_loss = (r0["loss"] + r1["loss"]) / 2
        assert torch.isfinite(torch.tensor(rank_loss)), f"{name}/{variant}: loss {rank_loss}"
        _assert_states_close(r1["state"], r0["state"], variant, f"{name}/{variant}: ranks out of sync")
        whole_loss, whole = _step(_fresh(name, init, variant), [batch])
        needs_ghost = (variant, c.expect) == ("eval_bn", "per_rank") or (variant, c.bn_ghost) == (
            "train_bn",
            True,
        )
        if needs_ghost:
            ghost_loss, ghost = _step(_fresh(name, init, variant), halves)

        if variant == "eval_bn":
            want_loss, want = (whole_loss, whole) if c.expect == "global" else (ghost_loss, ghost)
            assert rank_loss == pytest.approx(want_loss, rel=1e-5), f"{name}: {c.why}"
            _assert_states_close(r0["state"], want, variant, f"{name} ({c.expect}): {c.why}")
            if c.expect == "per_rank":  # ... and the 2B run, with its larger candidate set, is different
                assert abs(rank_loss - whole_loss) > 1e-2, f"{name}: {c.why}"
                assert _max_param_diff(r0["state"], whole, variant) > DIFFERS, f"{name}: {c.why}"
        elif variant == "train_bn":
            # Per-rank BN statistics: never the 2B run; the ghost-batch run where ranks are not coupled.
            assert _max_param_diff(r0["state"], whole, variant) > DIFFERS, name
            if c.bn_ghost:
                assert rank_loss == pytest.approx(ghost_loss, rel=1e-5)
                _assert_states_close(r0["state"], ghost, variant, f"{name}: per-rank BN == ghost batch")
        elif variant == "no_gather":
            assert _max_param_diff(r0["state"], whole, variant) > DIFFERS, "a missing gather went unnoticed"
        elif variant == "own_codebook":
            # Each rank fitted the codebook itself, on the gathered pairs of both ranks: it equals the one
            # the whole batch was made with, and the step equals the 2B run, centroids included.
            want_loss, want = _step(_fresh(name, init, "eval_bn"), [batch])
            assert rank_loss == pytest.approx(want_loss, rel=1e-5), f"{name}: {c.why}"
            _assert_states_close(r0["state"], want, variant, f"{name}: codebooks fitted per rank differ")


def test_every_registered_method_has_a_case() -> None:
    assert sorted(c.name for c in CASES) == list_methods()
