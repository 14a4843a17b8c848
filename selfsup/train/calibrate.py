"""Fit a run to a wall-clock budget: time the run's own step and what it does besides, then fix the steps.

``train.time_budget_minutes`` turns a budget into ``total_steps`` once, at the start of a run, so the
schedules stay pure functions of the step (the result is saved in ``derived.json`` and re-read on resume).
What is timed is what the run will do (:func:`measure_run_cost`):

- **the step**: the trainer's loader batches plus :meth:`selfsup.train.step.TrainStep.run` (views, loss,
  backward, clipping, optimizer, EMA/queue/center hooks) on a throwaway copy of the method, the *mean*
  over at least ``MIN_TIMED_STEPS`` steps and 2 % of the budget, after ``WARMUP_STEPS`` untimed ones
  (allocator growth, kernel selection, loader start-up), plus Lightning's own few milliseconds per step
  (``TRAINER_STEP_SECONDS``). A mean, because the run's total pays for its slow steps, which a median
  hides.
- **periodic work**, per whole interval: a checkpoint every ``train.checkpoint_every`` steps (two
  atomic saves: ``step-N.ckpt`` and ``last.ckpt``), an online kNN check every ``train.online_knn_every``.
- **once**: the final checkpoint and the export (two saves), the online kNN's data, the calibration
  itself and the warm-up steps' excess over a mean step (the run's own first steps pay it again, at most),
  all taken off the budget before it is divided into steps.

Every measurement takes a ``clock``, so a test drives it with a fake one.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from selfsup.methods.base import Method
from selfsup.train.atomic_io import AtomicCheckpointIO
from selfsup.train.config import Derived, RunConfig, TrainConfig
from selfsup.train.device_options import compile_method
from selfsup.train.optimizers import build_optimizer
from selfsup.train.sampler import step_loader
from selfsup.train.step import TrainStep

Clock = Callable[[], float]
WARMUP_STEPS = 3  # untimed: the first steps pay for allocator growth, kernel selection, loader start-up
MIN_TIMED_STEPS = 10
TIMED_SHARE = 0.02  # time steps for at least this share of the budget (a shared machine's noise averages out)
MAX_SHARE = 0.05  # ... and never for more than this share (a step of minutes: 2 timed steps)
MAX_TIMED_STEPS = 200
PRECISION_TIMED_STEPS = 5  # per candidate precision, after the warm-up (medians: one slow step is noise)
# Lightning's own cost per step (hooks, logging, progress bar), which the standalone step does not pay:
# a tiny SimCLR step ran 7.7 ms standalone and 11.2 ms in the trainer here (12.7 / 16.8 ms logging every
# step). Under 1 % of the main job's 0.5 s step; it matters only for tiny, fast steps.
TRAINER_STEP_SECONDS = 0.004


@dataclass(frozen=True)
class RunCost:
    """Wall time of a run as a function of its steps ``n``: ``fixed + n × step + (n // every) × each``
    for the periodic work (whole checkpoints and kNN checks: a short run may have none)."""

    step_seconds: float  # mean optimizer step: loader batches + the shared step + Lightning's own cost
    fixed_seconds: float  # once: the calibration, the final checkpoint and export, first steps' excess
    periodic: tuple[tuple[float, int], ...] = ()  # (seconds, every n steps): checkpoints, online kNN
    timed_steps: int = 0

    def seconds(self, steps: int) -> float:
        """Predicted wall time of the whole training phase (calibration included) for ``steps`` steps."""
        return self.fixed_seconds + self.fit_seconds(steps)

    def fit_seconds(self, steps: int) -> float:
        """Predicted time of the steps alone (what ``FitTimer`` measures)."""
        return steps * self.step_seconds + sum(each * (steps // every) for each, every in self.periodic)

    @property
    def periodic_seconds(self) -> float:
        """The periodic work per step, amortized (for messages)."""
        return sum(each / every for each, every in self.periodic)

    def steps_within(self, budget_seconds: float) -> int:
        """The most steps whose predicted time fits ``budget_seconds`` (at least 1)."""
        lo, hi = 1, max(1, int(budget_seconds / self.step_seconds) + 1)
        while lo < hi:  # seconds() grows with steps: the last n that fits
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.seconds(mid) <= budget_seconds else (lo, mid - 1)
        return lo


def timed(action: Callable[[], Any], clock: Clock) -> float:
    start = clock()
    action()
    return clock() - start


def measure_run_cost(
    step: Callable[[int], Any],
    save: Callable[[], Any],
    train: TrainConfig,
    budget_seconds: float,
    knn_data: Callable[[], Any] | None = None,
    knn_check: Callable[[], Any] | None = None,
    clock: Clock = time.perf_counter,
) -> RunCost:
    """Time ``step(i)`` (one optimizer step, loader included), ``save()`` (one checkpoint) and the online
    kNN (``knn_data()`` once, then ``knn_check()``) as the run will do them, with ``clock``."""
    started = clock()
    for i in range(WARMUP_STEPS):
        step(i)
    warmup_s = clock() - started
    times: list[float] = []
    for i in range(WARMUP_STEPS, WARMUP_STEPS + MAX_TIMED_STEPS):
        start = clock()
        step(i)
        times.append(clock() - start)
        spent = sum(times)
        if len(times) >= 2 and spent >= MAX_SHARE * budget_seconds:
            break
        if len(times) >= MIN_TIMED_STEPS and spent >= TIMED_SHARE * budget_seconds:
            break
    save_s = timed(save, clock)
    periodic = [(2 * save_s, train.checkpoint_every)]  # step-N.ckpt and last.ckpt
    if train.online_knn_every > 0 and knn_data is not None and knn_check is not None:
        knn_data()  # loaded once, here: the run's monitor keeps it
        periodic.append((timed(knn_check, clock), train.online_knn_every))
    mean = sum(times) / len(times)
    # Once: the calibration (over by now), the final checkpoint and the export (two saves), and what the
    # run's own first steps pay again beyond a mean step (the real method's allocation, loader start-up).
    fixed = clock() - started + 2 * save_s + max(0.0, warmup_s - WARMUP_STEPS * mean)
    return RunCost(mean + TRAINER_STEP_SECONDS, fixed, tuple(periodic), len(times))


def _device(cfg: RunConfig) -> torch.device:
    gpu = cfg.train.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available()
    return torch.device("cuda" if gpu else "cpu")


def probe_step(
    method: Method, dataset: Any, cfg: RunConfig, derived: Derived, device: torch.device
) -> tuple[Method, Any, Callable[[int], None]]:
    """A throwaway copy of ``method`` on ``device``, its optimizer, and ``step(i)``: one optimizer step of
    it at ``derived.precision`` on the trainer's loader (data order from step 0), as the run does it."""
    probe = copy.deepcopy(method).to(device).train()
    if cfg.train.compile:  # time the step the run takes (its compilation falls in the untimed warm-up)
        compile_method(probe)
    optimizer = build_optimizer(probe, cfg.optim, derived.peak_lr)
    driver = TrainStep(probe, cfg, derived)
    batches = iter(step_loader(dataset, cfg, replace(derived, total_steps=derived.total_steps + 10**6)))

    def step(i: int) -> None:
        micro = [next(batches) for _ in range(cfg.train.accumulate)]
        micro = [tuple(t.to(device, non_blocking=True) for t in raw) for raw in micro]
        driver.run(optimizer, micro, i)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return probe, optimizer, step


def calibrate(
    method: Method,
    dataset: Any,
    cfg: RunConfig,
    derived: Derived,
    scratch: Path,
    knn: Any = None,
    clock: Clock = time.perf_counter,
) -> RunCost:
    """:func:`measure_run_cost` of ``cfg``'s run on this process's device: a throwaway copy of ``method``,
    the trainer's loader (data order from step 0), checkpoints written atomically into ``scratch`` (the
    run's filesystem) and, with ``train.online_knn_every``, the run's ``OnlineKNN`` monitor ``knn`` (its
    data stays loaded for the run). The global RNG is restored afterwards: calibrating changes no result."""
    device = _device(cfg)
    budget_s = 60 * cfg.train.time_budget_minutes
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        probe, optimizer, step = probe_step(method, dataset, cfg, derived, device)
        with tempfile.TemporaryDirectory(dir=scratch, prefix=".calibration-") as tmp:

            def save() -> None:
                state = {"state_dict": probe.state_dict(), "optimizer_states": [optimizer.state_dict()]}
                AtomicCheckpointIO().save_checkpoint(state, Path(tmp) / "probe.ckpt")

            return measure_run_cost(
                step, save, cfg.train, budget_s,
                knn_data=knn.data if knn is not None else None,
                knn_check=(lambda: knn.data() is not None and knn.accuracy(probe.encoder, device))
                if knn is not None
                else None,
                clock=clock,
            )  # fmt: skip


def time_precisions(
    method: Method,
    dataset: Any,
    cfg: RunConfig,
    derived: Derived,
    precisions: tuple[str, ...],
    steps: int = PRECISION_TIMED_STEPS,
    clock: Clock = time.perf_counter,
) -> dict[str, float]:
    """Median seconds of ``method``'s optimizer step at each of ``precisions`` (``selfsup.train.precision``
    decides ``auto`` by it). One throwaway copy per precision; after ``WARMUP_STEPS`` untimed steps each,
    the copies take turns step by step, so a change in the machine's load falls on all of them alike.
    The global RNG is restored afterwards: timing changes no result."""
    device = _device(cfg)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        steppers = {
            p: probe_step(method, dataset, cfg, replace(derived, precision=p), device)[2] for p in precisions
        }
        for step in steppers.values():
            for i in range(WARMUP_STEPS):
                step(i)
        times: dict[str, list[float]] = {p: [] for p in precisions}
        for i in range(WARMUP_STEPS, WARMUP_STEPS + steps):
            for p, step in steppers.items():
                times[p].append(timed(lambda: step(i), clock))  # noqa: B023 (called at once)
    return {p: statistics.median(t) for p, t in times.items()}


def binding_limit(cfg: RunConfig, planned: Derived, budget_steps: int, cost: RunCost) -> str:
    """One line for the start of a budgeted run: which limit binds, its steps and the budget's.

    ``planned`` is derived without the budget (``train.epochs`` or ``train.max_steps``); ``budget_steps``
    is what fits the budget. A run that trains less than its budget allows says so, and why."""
    budget = cfg.train.time_budget_minutes
    rate = (
        f"{cost.step_seconds:.3g} s/step + {cost.periodic_seconds:.2g} s/step for checkpoints/kNN, "
        f"{cost.fixed_seconds:.0f} s once"
    )
    spe = planned.steps_per_epoch
    if cfg.train.max_steps is not None:
        limit = f"train.max_steps={cfg.train.max_steps}"
    else:
        limit = f"train.epochs={cfg.train.epochs:g}"
    if planned.total_steps <= budget_steps:
        return (
            f"{limit} binds before the time budget: {planned.total_steps:,} steps "
            f"({planned.total_steps / spe:.2f} epochs), predicted {cost.seconds(planned.total_steps) / 60:.1f} min, "
            f"vs {budget_steps:,} steps that fit train.time_budget_minutes={budget:g} ({rate}); "
            f"raise {limit.split('=')[0]} to use the whole budget"
        )
    return (
        f"train.time_budget_minutes={budget:g} binds: {budget_steps:,} steps ({budget_steps / spe:.2f} epochs), "
        f"predicted {cost.seconds(budget_steps) / 60:.1f} min ({rate}), vs {planned.total_steps:,} steps of {limit}"
    )
