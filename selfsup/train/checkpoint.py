"""From a trained method to a portable encoder: ``export_method`` (a checkpoint: ``selfsup.runs.export_from_checkpoint``)."""

from __future__ import annotations

from pathlib import Path

from selfsup.export import export_encoder
from selfsup.methods.base import Method
from selfsup.train.build import input_spec
from selfsup.train.config import RunConfig
from selfsup.train.config_loader import config_to_dict
from selfsup.train.fsdp import is_sharded


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
    extra = method.extra_state()
    reserved = {"method", "input", "image_size", "mean", "std", "steps", "config"} & set(extra)
    if reserved:
        raise ValueError(
            f"{type(method).__name__}.extra_state() must not use the export's own keys {sorted(reserved)}"
        )
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
        **extra,
    )
