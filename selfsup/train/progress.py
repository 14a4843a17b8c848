"""A progress bar in optimizer steps (Lightning's shows its own epoch count, which here is one pass)."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar


class StepProgressBar(TQDMProgressBar):
    """``label``: what runs ("pretraining", or "training" for a supervised run); ``accumulate``: the
    micro-batches per optimizer step (the bar counts micro-batches, which are steps when it is 1)."""

    def __init__(self, label: str = "pretraining", accumulate: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.unit = "steps" if accumulate == 1 else f"micro-batches, {accumulate} per step"

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(f"{self.label} ({self.unit})")

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
