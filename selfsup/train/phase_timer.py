"""Wall time per phase of a training step (views, forward, backward, update): where a step's time goes.

``TrainStep`` and ``selfsup bench --phases`` wrap each phase in ``timer(name)``; the timer adds the
phase's wall time to its total. On CUDA the device is synchronized at both ends of a phase, so the
kernels a phase launched are charged to it (this costs a little overlap; time whole steps without a
timer). On the CPU nothing is synchronized and the overhead is two ``perf_counter`` calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch

# The phases of ``selfsup.train.step.TrainStep``, in the order a step runs them.
STEP_PHASES = ("views", "forward", "backward", "update")


class PhaseTimer:
    """Accumulated seconds per phase name; ``device`` decides whether phases synchronize CUDA."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.seconds: dict[str, float] = {}

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def reset(self) -> None:
        self.seconds.clear()

    def per_step_ms(self, steps: int) -> dict[str, float]:
        """Milliseconds per step for each phase seen, in ``STEP_PHASES`` order first."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        order = [p for p in STEP_PHASES if p in self.seconds] + [
            p for p in self.seconds if p not in STEP_PHASES
        ]
        return {p: 1000 * self.seconds[p] / steps for p in order}


def timed_phase(timer: PhaseTimer | None, name: str) -> AbstractContextManager[None]:
    """``timer(name)`` when there is a timer, else a no-op context: how a step marks its phases."""
    return nullcontext() if timer is None else timer(name)
