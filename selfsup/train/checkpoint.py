"""From training state to a portable encoder: ``export_method`` and ``export_from_checkpoint``."""

from __future__ import annotations

from pathlib import Path

import torch

from selfsup.export import export_encoder
from selfsup.methods.base import Method
from selfsup.train.config import RunConfig
from selfsup.train.config_loader import config_to_dict, load_run_config
from selfsup.train.fsdp import is_sharded
from selfsup.types import InputSpec


def input_spec(method: Method, cfg: RunConfig, image_size: int) -> InputSpec:
    """What the run's encoder is fed: size, channels, the views' normalization, the training data."""
    mean, std = method.normalization()
    return InputSpec(
        image_size=int(image_size),
        channels=int(method.encoder.in_chans),
        mean=None if mean is None else tuple(mean),
        std=None if std is None else tuple(std),
        dataset=cfg.data.name,
        root=cfg.data.root,
    )


def export_method(method: Method, cfg: RunConfig, path: Path, image_size: int, steps: int) -> Path:
    """Export ``method.encoder`` with what evaluation needs: input size and normalization.

    ``method`` must hold full weights: with ``train.strategy=fsdp`` pass ``LitMethod.full_method()`` (every
    rank gathers, one rank exports), never the sharded training module."""
    if is_sharded(method.encoder):
        raise ValueError(
            "export_method got a sharded (fsdp) method; gather its full weights first with "
            "LitMethod.full_method() (selfsup.train.fsdp.gather_into) on every rank and export that copy"
        )
    mean, std = method.normalization()
    return export_encoder(
        method.encoder.float(),
        path,
        method=cfg.method_name,
        input=input_spec(method, cfg, image_size).to_dict(),
        image_size=image_size,
        mean=mean,
        std=std,
        steps=steps,
        config=config_to_dict(cfg),
        **method.extra_state(),
    )


def export_from_checkpoint(checkpoint: Path, out: Path | None = None) -> Path:
    """Rebuild the run's method from ``RUN/config.yaml``, load the checkpoint weights, export the encoder.

    The checkpoint is read with ``torch.load(weights_only=True)``: tensors and plain
    containers only, no arbitrary unpickling.
    """
    from selfsup.data import create_dataset
    from selfsup.train.pretrain import build_method
    from selfsup.train.run_dir import run_dir_of_checkpoint

    run_dir = run_dir_of_checkpoint(checkpoint)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{config_path} is missing; export needs the run directory the checkpoint came from"
        )
    cfg = load_run_config(config_path)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if "state_dict" not in state:
        raise ValueError(f"{checkpoint} is not a selfsup/Lightning training checkpoint (no state_dict)")
    dataset = create_dataset(cfg.data.name, "train", root=cfg.data.root, image_size=cfg.data.image_size)
    image_size = cfg.data.image_size or dataset.image_size[0]
    method = build_method(cfg, dataset.channels, image_size)
    weights = {k.removeprefix("method."): v for k, v in state["state_dict"].items()}
    method.load_state_dict(weights)
    return export_method(
        method, cfg, out or run_dir / "encoder", image_size, int(state.get("global_step", 0))
    )
