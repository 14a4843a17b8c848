"""CLIP loss across 2 gloo ranks equals one process on the concatenated batch.

Each rank scores its local rows against the gathered features of both ranks; the mean of the ranks'
losses is the global loss, and the input / scale gradients as DDP applies them (averaged over ranks)
equal the single-process gradients.
"""

from __future__ import annotations

import pytest
import torch
from distributed_helpers import run_gloo

from selfsup.losses.clip import ClipLoss

W, B, D = 2, 3, 5


def _run(image: torch.Tensor, text: torch.Tensor) -> dict:
    loss_fn = ClipLoss().double()
    with torch.no_grad():
        loss_fn.log_scale.fill_(1.7)
    a, b = image.clone().requires_grad_(True), text.clone().requires_grad_(True)
    loss, acc = loss_fn.forward_with_accuracy(a, b)
    loss.backward()
    return {
        "loss": loss.detach(),
        "acc": acc,
        "image": a.grad,
        "text": b.grad,
        "scale": loss_fn.log_scale.grad,
    }


def _worker(rank: int, world_size: int, image: torch.Tensor, text: torch.Tensor) -> dict:
    rows = slice(rank * B, (rank + 1) * B)
    return _run(image[rows], text[rows])


@pytest.mark.multiprocess
def test_two_ranks_equal_single_process() -> None:
    g = torch.Generator().manual_seed(0)
    image = torch.randn(W * B, D, generator=g, dtype=torch.float64)
    text = torch.randn(W * B, D, generator=g, dtype=torch.float64)
    ref = _run(image, text)
    res = run_gloo(_worker, W, image, text)
    torch.testing.assert_close(sum(r["loss"] for r in res) / W, ref["loss"], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sum(r["acc"] for r in res) / W, ref["acc"])
    torch.testing.assert_close(sum(r["scale"] for r in res) / W, ref["scale"], rtol=1e-10, atol=1e-12)
    for rank, r in enumerate(res):
        rows = slice(rank * B, (rank + 1) * B)
        torch.testing.assert_close(r["image"] / W, ref["image"][rows], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(r["text"] / W, ref["text"][rows], rtol=1e-10, atol=1e-12)
