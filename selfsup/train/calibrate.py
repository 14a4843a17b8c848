"""Fit a run to a wall-clock budget: time a few real training steps, then fix the step count.

``train.time_budget_minutes`` turns a budget into ``total_steps`` once, at the start
of a run, by timing ``steps`` optimizer steps (after ``warmup`` untimed ones, which pay for allocator growth and
kernel selection; with 1 + 3 steps the main job's estimate was 0.83 s against 0.69 s over the run) of a throwaway
copy of the method on real batches. The result is saved in ``derived.json`` and
re-read on resume, so the schedules stay pure functions of the step.
"""

from __future__ import annotations

import copy
import time

import torch

from selfsup.data import collate_batched
from selfsup.methods.base import Method
from selfsup.train.config import Derived, RunConfig
from selfsup.train.optimizers import build_optimizer
from selfsup.types import Progress


def seconds_per_step(
    method: Method, dataset, cfg: RunConfig, derived: Derived, steps: int = 5, warmup: int = 2
) -> float:
    """Median wall time of one optimizer step (all micro-batches) on this process's device."""
    device = torch.device(
        "cuda" if cfg.train.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available() else "cpu"
    )
    probe = copy.deepcopy(method).to(device).train()
    optimizer = build_optimizer(probe, cfg.optim, derived.peak_lr)
    bf16 = derived.precision.startswith("bf16")
    g = torch.Generator(device=device).manual_seed(cfg.train.seed)
    batch_items = list(range(cfg.train.batch_size))
    images, labels, indices = collate_batched(
        dataset.__getitems__(batch_items)
        if hasattr(dataset, "__getitems__")
        else [dataset[i] for i in batch_items]
    )
    images = images.to(device)
    times = []
    for _ in range(warmup + steps):
        start = time.perf_counter()
        for _ in range(cfg.train.accumulate):
            batch = probe.make_batch(images, labels.to(device), indices.to(device), generator=g)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = probe.training_step(
                    batch, Progress(0, derived.total_steps, derived.steps_per_epoch)
                ).loss
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    timed = sorted(times[warmup:])
    return timed[len(timed) // 2]


def steps_for_budget(budget_minutes: float, step_seconds: float, margin: float = 0.9) -> int:
    """Optimizer steps that fit ``margin`` × the budget (the rest covers logging and checkpoints)."""
    return max(1, int(budget_minutes * 60 * margin / step_seconds))
