"""A plain Adam loop over a method's own ``make_batch`` + ``training_step``, for tests that check learning."""

from __future__ import annotations

import torch

from selfsup.types import Progress, StepOutput


def train_steps(method, images: torch.Tensor, steps: int, lr: float = 3e-3, seed: int = 0) -> StepOutput:
    """``steps`` optimizer steps on fresh views of ``images`` (uint8 ``[B, C, H, W]``); the last output."""
    opt = torch.optim.Adam(method.parameters(), lr)
    generator = torch.Generator().manual_seed(seed)
    for step in range(steps):
        out = method.training_step(method.make_batch(images, generator=generator), Progress(step, steps))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    return out
