"""The encoder a visualization draws from (a run, a training checkpoint or an exported encoder, loaded
by ``selfsup.runs.load_run``) and how to feed it.

The result carries the encoder's ``InputSpec`` (training dataset, size, channels,
normalization), so a visualization feeds images the way the model was trained and draws on the
model's own data by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from selfsup.runs import load_run
from selfsup.types import InputSpec
from selfsup.views import eval_transform
from selfsup.views.channels import match_channels

__all__ = ["VizEncoder", "load_viz_encoder"]


@dataclass
class VizEncoder:
    """An encoder plus how to feed it: ``prepare(uint8 [B, C, H, W]) -> float [B, C, s, s]``."""

    encoder: nn.Module
    label: str
    spec: InputSpec

    @property
    def image_size(self) -> int:
        return self.spec.image_size

    @property
    def mean(self) -> list[float] | None:
        return None if self.spec.mean is None else list(self.spec.mean)

    @property
    def std(self) -> list[float] | None:
        return None if self.spec.std is None else list(self.spec.std)

    def prepare(self, images: Tensor) -> Tensor:
        """Resize to ``image_size`` (antialiased bilinear) and normalize, matching evaluation.

        Images of another channel count are converted; callers that take images from a dataset
        check the channels first (``selfsup.viz.image_source.VizImages.for_model``)."""
        images = match_channels(images, int(self.encoder.in_chans))
        return eval_transform(images, self.image_size, self.mean, self.std)


def load_viz_encoder(path: str | Path) -> VizEncoder:
    """Encoder + input recipe of a run directory, training checkpoint (``.ckpt``) or exported encoder."""
    run = load_run(path)
    return VizEncoder(run.encoder, run.label, run.spec)
