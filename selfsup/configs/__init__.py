"""The configs shipped in the package: one flat ``<method>_<data>.yaml`` per method x dataset.

They install with selfsup, so ``--config simclr_fashion_mnist`` (or ``simclr_fashion_mnist.yaml``)
works from any directory: ``resolve_config`` turns a bare name (no path separator, not an existing
file) into the shipped file. ``selfsup configs list|show|copy`` lists, prints and copies them.
Standard library only: listing configs must not import torch.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent

__all__ = ["CONFIG_DIR", "config_summary", "resolve_config", "shipped_config", "shipped_configs"]


def shipped_configs() -> dict[str, Path]:
    """``{name: path}`` of every shipped config, sorted by name (the file stem)."""
    return {p.stem: p for p in sorted(CONFIG_DIR.glob("*.yaml"))}


def shipped_config(name: str) -> Path:
    """The shipped config called ``name`` (with or without ``.yaml``); one-line error naming them all."""
    stem = name.removesuffix(".yaml")
    configs = shipped_configs()
    if stem not in configs:
        raise FileNotFoundError(
            f"no config file or shipped config named {name!r}; shipped configs: {', '.join(configs)}"
        )
    return configs[stem]


def resolve_config(config: str | Path) -> Path:
    """An existing file or any path as given; a bare name (``simclr_fashion_mnist[.yaml]``): shipped."""
    text = str(config)
    if Path(text).is_file() or any(sep and sep in text for sep in (os.sep, os.altsep, "/")):
        return Path(text)
    return shipped_config(text)


def config_summary(path: Path) -> str:
    """The first comment line of a config file (what it trains on what), '' if it has none."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""
