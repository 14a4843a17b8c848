"""Load the encoder a visualization draws from: a training checkpoint or an exported encoder.

- ``RUN/checkpoints/*.ckpt`` (Lightning checkpoint): the run's method is rebuilt from
  ``RUN/config.yaml`` and loaded with ``torch.load(weights_only=True)`` (tensors only, no pickled
  code), as ``selfsup export`` does; ``load_method_checkpoint`` returns the whole method (heads,
  decoders), ``load_viz_encoder`` its encoder.
- ``encoder.safetensors`` / ``encoder.json`` / the shared path prefix: ``selfsup.export.load_encoder``
  plus the JSON's input size and normalization.

Either way the result carries what a visualization needs to feed images the way the model was
trained: ``image_size`` and per-channel ``mean`` / ``std``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.views import eval_transform

__all__ = ["VizEncoder", "is_training_checkpoint", "load_method_checkpoint", "load_viz_encoder"]


@dataclass
class VizEncoder:
    """An encoder plus how to feed it: ``prepare(uint8 [B, C, H, W]) -> float [B, C, s, s]``."""

    encoder: nn.Module
    image_size: int
    mean: list[float] | None
    std: list[float] | None
    label: str

    def prepare(self, images: Tensor) -> Tensor:
        """Resize to ``image_size`` (antialiased bilinear) and normalize, matching evaluation."""
        images = match_channels(images, int(self.encoder.in_chans))
        return eval_transform(images, self.image_size, self.mean, self.std)


def match_channels(images: Tensor, channels: int) -> Tensor:
    """uint8 ``[B, c, H, W]`` -> ``[B, channels, H, W]``: grey repeated to RGB, RGB to luma (BT.601)."""
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1:
        return images.expand(-1, channels, -1, -1).contiguous()
    if channels == 1 and c >= 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images[:, :3].float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(images.dtype)
    raise ValueError(f"cannot convert {c}-channel images for an encoder with in_chans={channels}")


def is_training_checkpoint(path: str | Path) -> bool:
    return Path(path).suffix == ".ckpt"


def load_method_checkpoint(checkpoint: str | Path, expected: str | None = None) -> tuple[Any, Any, int]:
    """``(method, run_config, image_size)`` of the run that wrote ``RUN/checkpoints/*.ckpt``.

    ``expected``: the method name the caller needs (an error names the run's method otherwise).
    """
    from selfsup.data import create_dataset
    from selfsup.train.config_loader import load_run_config
    from selfsup.train.pretrain import build_method
    from selfsup.train.run_dir import run_dir_of_checkpoint

    run_dir = run_dir_of_checkpoint(checkpoint)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{config_path} is missing; a training checkpoint must stay inside its run directory "
            "(RUN/checkpoints/last.ckpt), or pass the exported RUN/encoder.safetensors instead"
        )
    cfg = load_run_config(config_path)
    if expected is not None and cfg.method_name != expected:
        raise ValueError(f"{checkpoint} is a {cfg.method_name!r} run; this needs a {expected!r} run")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "state_dict" not in state:
        raise ValueError(f"{checkpoint} is not a selfsup/Lightning training checkpoint (no state_dict)")
    dataset = create_dataset(cfg.data.name, "train", root=cfg.data.root, image_size=cfg.data.image_size)
    image_size = cfg.data.image_size or dataset.image_size[0]
    method = build_method(cfg, dataset.channels, image_size)
    method.load_state_dict({k.removeprefix("method."): v for k, v in state["state_dict"].items()})
    return method.eval(), cfg, int(image_size)


def load_viz_encoder(path: str | Path) -> VizEncoder:
    """Encoder + input recipe from a training checkpoint (``.ckpt``) or an exported encoder."""
    path = Path(path)
    if is_training_checkpoint(path):
        method, cfg, image_size = load_method_checkpoint(path)
        mean, std = method.normalization()
        label = f"{cfg.method_name} ({path.parent.parent.name})"
        return VizEncoder(method.encoder.float().eval(), image_size, mean, std, label)
    from selfsup.export import load_encoder, read_metadata

    encoder = load_encoder(path)
    meta = read_metadata(path)
    image_size = meta.get("image_size") or encoder.spec["kwargs"].get("image_size")
    if not image_size:
        raise ValueError(
            f"{path}: the encoder's JSON records no image_size; re-export it with selfsup export"
        )
    stem = path.name.removesuffix(".safetensors").removesuffix(".json")
    run = path.parent.name if stem == "encoder" else stem
    label = f"{meta.get('method', 'encoder')} ({run})"
    return VizEncoder(encoder.float().eval(), int(image_size), meta.get("mean"), meta.get("std"), label)
