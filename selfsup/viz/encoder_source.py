"""Load the encoder a visualization draws from: a training checkpoint or an exported encoder.

- ``RUN/checkpoints/*.ckpt`` (Lightning checkpoint): the run's method is rebuilt at its recorded
  input by ``selfsup.runs.load_checkpoint_run`` (weights via ``torch.load(weights_only=True)``:
  tensors only, no pickled code), as ``selfsup export`` does; ``load_method_checkpoint`` returns the
  whole method (heads, decoders), ``load_viz_encoder`` its encoder.
- ``encoder.safetensors`` / ``encoder.json`` / the shared path prefix: ``selfsup.export.load_encoder``
  plus the JSON's input record.

Either way the result carries the encoder's ``InputSpec`` (training dataset, size, channels,
normalization), so a visualization feeds images the way the model was trained and draws on the
model's own data by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from selfsup.runs import input_spec_of, load_checkpoint_run
from selfsup.types import InputSpec
from selfsup.views import eval_transform
from selfsup.views.channels import match_channels

__all__ = [
    "VizEncoder",
    "checkpoint_spec",
    "is_training_checkpoint",
    "load_method_checkpoint",
    "load_viz_encoder",
]


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


def is_training_checkpoint(path: str | Path) -> bool:
    return Path(path).suffix == ".ckpt"


def load_method_checkpoint(checkpoint: str | Path, expected: str | None = None) -> tuple[Any, Any, int]:
    """``(method, run_config, image_size)`` of the run that wrote ``RUN/checkpoints/*.ckpt``.

    ``expected``: the method name the caller needs (an error names the run's method otherwise).
    """
    run = load_checkpoint_run(checkpoint, expected)
    return run.method, run.config, run.spec.image_size


def checkpoint_spec(path: str | Path) -> InputSpec:
    """The ``InputSpec`` of a checkpoint or exported encoder, read from JSON where it is recorded.

    Runs that predate the record are loaded once to learn it (``load_checkpoint_run``)."""
    try:
        return input_spec_of(path)
    except ValueError:
        if not is_training_checkpoint(path):
            raise
        return load_checkpoint_run(path).spec


def load_viz_encoder(path: str | Path) -> VizEncoder:
    """Encoder + input recipe from a training checkpoint (``.ckpt``) or an exported encoder."""
    path = Path(path)
    if is_training_checkpoint(path):
        run = load_checkpoint_run(path)
        spec, method = run.spec, run.method
        label = f"{run.config.method_name} ({run.run_dir.name})"
        return VizEncoder(method.encoder.float().eval(), label, spec)
    from selfsup.export import load_encoder, read_metadata

    encoder = load_encoder(path)
    spec = input_spec_of(path)
    stem = path.name.removesuffix(".safetensors").removesuffix(".json")
    run_name = path.parent.name if stem == "encoder" else stem
    label = f"{read_metadata(path).get('method', 'encoder')} ({run_name})"
    return VizEncoder(encoder.float().eval(), label, spec)
