"""InfoNCE across 2 gloo ranks equals one process on the concatenated batch: loss value and accuracy on
every rank, and gradients as DDP applies them (averaged over ranks).

Each rank holds its slice of a fixed global batch as leaf tensors. DDP averages gradients over ranks, so
the gradient DDP applies for rank ``r``'s rows is ``x_r.grad / W``; it must equal the single-process
gradient of the global mean loss for those rows. A DDP-wrapped projection checks the same on parameters.
"""

from __future__ import annotations

import pytest
import torch
from distributed_helpers import run_gloo
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from selfsup.losses import InfoNCELoss

W, B, D = 2, 4, 6
TAU_PAIR, TAU_VIEWS, TAU_LABELS = 0.1, 0.5, 0.2
UNEQUAL = [5, 7]  # rows per rank for the indices form with unequal local batches


def _rows(rank: int, sizes: list[int]) -> slice:
    start = sum(sizes[:rank])
    return slice(start, start + sizes[rank])


def _run(loss_fn: InfoNCELoss, inputs: list[torch.Tensor], ids: torch.Tensor | None = None) -> dict:
    """Loss, accuracy and input gradients of one call: ``(z0, z1)`` for 2 inputs without ids, the list
    form for more, ``(z, ids)`` with ids."""
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    if ids is not None:
        loss, acc = loss_fn.forward_with_accuracy(leaves[0], ids)
    elif len(leaves) == 2:
        loss, acc = loss_fn.forward_with_accuracy(*leaves)
    else:
        loss, acc = loss_fn.forward_with_accuracy(leaves)
    loss.backward()
    return {"loss": loss.detach(), "acc": acc, "grads": [t.grad for t in leaves]}


def _projected_pair(model: nn.Module, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, list]:
    loss = InfoNCELoss(temperature=TAU_PAIR)(model(x0), model(x1))
    loss.backward()
    params = model.module.parameters() if isinstance(model, DDP) else model.parameters()
    return loss.detach(), [p.grad.clone() for p in params]


def _worker(rank: int, world_size: int, data: dict) -> dict:
    mine = _rows(rank, [B] * W)
    out = {}
    out["pair"] = _run(InfoNCELoss(TAU_PAIR), [data["z0"][mine], data["z1"][mine]])
    out["views"] = _run(InfoNCELoss(TAU_VIEWS), [v[mine] for v in data["views"]])
    out["labels"] = _run(InfoNCELoss(TAU_LABELS), [data["z"][mine]], data["labels"][mine])
    uneq = _rows(rank, UNEQUAL)
    out["unequal"] = _run(InfoNCELoss(TAU_LABELS), [data["zu"][uneq]], data["labels_u"][uneq])
    out["no_gather"] = InfoNCELoss(TAU_PAIR, gather=False)(data["z0"][mine], data["z1"][mine]).detach()

    torch.manual_seed(0)
    model = DDP(nn.Linear(D, 3).double())
    out["ddp_loss"], out["ddp_grads"] = _projected_pair(model, data["x0"][mine], data["x1"][mine])
    return out


@pytest.fixture(scope="module")
def setup():
    g = torch.Generator().manual_seed(3)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    n_u = sum(UNEQUAL)
    data = {
        "z0": randn(W * B, D),
        "z1": randn(W * B, D),
        "views": [randn(W * B, D) for _ in range(4)],
        "z": randn(W * B, D),
        # SupCon labels shared across ranks (positives on the other rank) and one singleton (label 7)
        "labels": torch.tensor([0, 1, 2, 7, 1, 0, 2, 0]),
        "zu": randn(n_u, D),
        "labels_u": torch.randint(0, 4, (n_u,), generator=g),
        "x0": randn(W * B, D),
        "x1": randn(W * B, D),
    }
    return data, run_gloo(_worker, W, data, preimport=("torch._dynamo",))


def _check(case: str, ref: dict, res: list[dict], sizes: list[int]) -> None:
    for rank, out in enumerate(res):
        got = out[case]
        torch.testing.assert_close(got["loss"], ref["loss"], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got["acc"], ref["acc"])
        for g_rank, g_ref in zip(got["grads"], ref["grads"], strict=True):
            torch.testing.assert_close(g_rank / W, g_ref[_rows(rank, sizes)], rtol=1e-10, atol=1e-12)


@pytest.mark.multiprocess
def test_two_views(setup):
    data, res = setup
    ref = _run(InfoNCELoss(TAU_PAIR), [data["z0"], data["z1"]])
    _check("pair", ref, res, [B] * W)


@pytest.mark.multiprocess
def test_four_views_list_form(setup):
    data, res = setup
    ref = _run(InfoNCELoss(TAU_VIEWS), data["views"])
    _check("views", ref, res, [B] * W)


@pytest.mark.multiprocess
def test_supcon_labels_across_ranks(setup):
    data, res = setup
    ref = _run(InfoNCELoss(TAU_LABELS), [data["z"]], data["labels"])
    _check("labels", ref, res, [B] * W)


@pytest.mark.multiprocess
def test_unequal_local_batches(setup):
    data, res = setup
    ref = _run(InfoNCELoss(TAU_LABELS), [data["zu"]], data["labels_u"])
    _check("unequal", ref, res, UNEQUAL)


@pytest.mark.multiprocess
def test_ddp_parameter_gradients_equal_single_process(setup):
    data, res = setup
    torch.manual_seed(0)
    loss, grads = _projected_pair(nn.Linear(D, 3).double(), data["x0"], data["x1"])
    for out in res:
        torch.testing.assert_close(out["ddp_loss"], loss, rtol=1e-12, atol=1e-12)
        for g_ddp, g_ref in zip(out["ddp_grads"], grads, strict=True):
            torch.testing.assert_close(g_ddp, g_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.multiprocess
def test_gather_false_uses_local_negatives_only(setup):
    data, res = setup
    for rank, out in enumerate(res):
        mine = _rows(rank, [B] * W)
        local = InfoNCELoss(TAU_PAIR)(data["z0"][mine], data["z1"][mine])
        torch.testing.assert_close(out["no_gather"], local)
    assert not torch.allclose(res[0]["no_gather"], res[1]["no_gather"])
