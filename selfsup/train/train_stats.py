"""Throughput and peak memory of a training segment, saved as ``RUN/train_stats.json``.

``images_per_second`` counts source images (global batch x optimizer steps / fit seconds), not
views, so methods with different numbers of views compare on the data they consume. Peak memory
is the accelerator's allocator peak on CUDA (``torch.cuda.max_memory_allocated``) and the
process's peak resident set size on CPU (``ru_maxrss``, which includes the dataset in memory).
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


@dataclass
class TrainStats:
    steps: int
    global_batch: int
    fit_seconds: float
    images_per_second: float
    peak_memory_mb: float
    memory_kind: str  # "cuda_allocated" | "cpu_max_rss"
    predicted_seconds: float | None = None  # the time-budget calibration's forecast of fit_seconds


def _vm_hwm_kib() -> int | None:
    """This process's own peak resident set (``VmHWM``, KiB) on Linux, else None.

    ``ru_maxrss`` is no substitute there: a forked child starts from its parent's peak, so every run
    started by a large process (``selfsup compare``, ``findings``) would report the parent's memory."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_allocated"
    hwm = _vm_hwm_kib()
    if hwm is not None:
        return hwm / 2**10, "cpu_max_rss"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 2**10), "cpu_max_rss"  # bytes on macOS, KiB on Linux


class FitTimer(Callback):
    """Times the training loop (not data loading or set-up) and counts the steps of this segment; with a
    time budget, logs the fit's time against the calibration's forecast when training ends."""

    def __init__(self, global_batch: int) -> None:
        self.global_batch = global_batch
        self.started = self.seconds = 0.0
        self.first_step = self.last_step = 0
        self.device = torch.device("cpu")
        self.predicted_seconds: float | None = None  # set by a run with a time budget

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.first_step = trainer.global_step  # > 0 when resumed
        self.started = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds = time.perf_counter() - self.started
        self.last_step = trainer.global_step
        self.device = pl_module.device  # Lightning moves the module back to the CPU after fit
        if self.predicted_seconds and trainer.is_global_zero:
            off = 100 * (self.seconds / self.predicted_seconds - 1)
            log.warning(
                "trained %d steps in %.1f min; the time-budget calibration predicted %.1f min (%+.0f %%)",
                self.last_step - self.first_step, self.seconds / 60, self.predicted_seconds / 60, off,
            )  # fmt: skip

    def stats(self, device: torch.device | None = None) -> TrainStats:
        """This segment's numbers; peak memory of ``device`` (default: the device training ran on)."""
        steps = self.last_step - self.first_step
        memory, kind = peak_memory_mb(self.device if device is None else device)
        rate = steps * self.global_batch / self.seconds if self.seconds > 0 else 0.0
        predicted = None if self.predicted_seconds is None else round(self.predicted_seconds, 3)
        return TrainStats(
            steps,
            self.global_batch,
            round(self.seconds, 6),  # a tiny test run lasts ~50 ms: ms rounding would skew img/s by 1 %
            round(rate, 2),
            round(memory, 1),
            kind,
            predicted,
        )


def save_train_stats(run_dir: Path, stats: TrainStats) -> None:
    (run_dir / "train_stats.json").write_text(json.dumps(asdict(stats), indent=2))


def load_train_stats(run_dir: Path) -> dict | None:
    path = Path(run_dir) / "train_stats.json"
    return json.loads(path.read_text()) if path.is_file() else None
