"""The only types that cross module boundaries: ``Batch``, ``Progress``, ``StepOutput``, ``InputSpec``.

A method's training step is ``StepOutput = method.training_step(Batch, Progress)``.
The trainer builds the ``Batch`` (via ``method.make_batch``) and the ``Progress``;
it never looks inside a method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Progress:
    """Where training stands. Schedules are pure functions of this, so resume is exact.

    ``step`` counts optimizer steps already taken (0 for the first step);
    ``total_steps`` is the planned number; ``steps_per_epoch`` converts to epochs.
    """

    step: int
    total_steps: int
    steps_per_epoch: int = 1

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"Progress.total_steps must be >= 1, got {self.total_steps}")
        if self.steps_per_epoch < 1:
            raise ValueError(f"Progress.steps_per_epoch must be >= 1, got {self.steps_per_epoch}")

    @property
    def epoch(self) -> int:
        """Index of the current epoch (0-based)."""
        return self.step // self.steps_per_epoch

    @property
    def epoch_float(self) -> float:
        """Fractional epochs done, e.g. 1.5 halfway through the second epoch."""
        return self.step / self.steps_per_epoch

    @property
    def fraction(self) -> float:
        """Fraction of training done, in [0, 1]."""
        return min(1.0, self.step / self.total_steps)


@dataclass
class Batch:
    """What a method's training step consumes.

    views:    list of float tensors ``[B, C, h_i, w_i]`` (normalized), one per view;
              views of one resolution are stacked by the method for a single forward.
    targets:  pretext targets generated from the data (e.g. rotation labels ``[B]``).
    labels:   optional class labels ``[B]`` (never used for self-supervised losses;
              online monitors may use them).
    indices:  optional dataset indices ``[B]``.
    images:   the raw uint8 images ``[B, C, H, W]`` the views came from (optional).
    """

    views: list[Tensor]
    targets: dict[str, Tensor] = field(default_factory=dict)
    labels: Tensor | None = None
    indices: Tensor | None = None
    images: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.views[0].shape[0])


@dataclass
class StepOutput:
    """What a training step returns.

    loss:      scalar tensor with grad.
    metrics:   floats or 0-d tensors to log (pretext accuracy, monitors, ...).
    features:  detached encoder features ``[B, D]`` of the first view, for online monitors.
    """

    loss: Tensor
    metrics: dict[str, float | Tensor] = field(default_factory=dict)
    features: Tensor | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.loss, torch.Tensor) or self.loss.dim() != 0:
            raise TypeError("StepOutput.loss must be a 0-d tensor")
        if self.features is not None:
            self.features = self.features.detach()


@dataclass(frozen=True)
class InputSpec:
    """What an encoder was trained on and how it must be fed (timm's ``pretrained_cfg`` idea).

    image_size: square side in pixels the encoder was trained at.
    channels:   input channels (1 grayscale, 3 RGB).
    mean, std:  per-channel normalization of [0, 1] pixels; None = the evaluation default (0.5 / 0.5).
    dataset:    the training dataset's name (None when unknown, e.g. an imported checkpoint).
    root:       the training dataset's root folder, if it had one.

    Travels with the run (``derived.json``) and the export (``encoder.json``) so evaluation,
    visualization and export never guess a dataset, a size or a normalization.
    """

    image_size: int
    channels: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    dataset: str | None = None
    root: str | None = None

    def to_dict(self) -> dict:
        return {
            "image_size": self.image_size,
            "channels": self.channels,
            "mean": None if self.mean is None else list(self.mean),
            "std": None if self.std is None else list(self.std),
            "dataset": self.dataset,
            "root": self.root,
        }

    @classmethod
    def from_dict(cls, data: dict) -> InputSpec:
        mean, std = data.get("mean"), data.get("std")
        return cls(
            image_size=int(data["image_size"]),
            channels=int(data["channels"]),
            mean=None if mean is None else tuple(float(m) for m in mean),
            std=None if std is None else tuple(float(s) for s in std),
            dataset=data.get("dataset"),
            root=data.get("root"),
        )
