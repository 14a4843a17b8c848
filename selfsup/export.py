"""Encoder export and loading: safetensors weights + a small JSON that names the architecture.

``export_encoder(encoder, path)`` writes ``<path>.safetensors`` and ``<path>.json``
(backbone spec, method, config, extra facts). ``load_encoder(path)`` rebuilds the
backbone with ``create_backbone`` and loads the weights strictly. Loading never
unpickles: safetensors and JSON only, so an untrusted file cannot run code; and the JSON may only
choose the architecture (``selfsup.backbones.safe_spec``: no ``checkpoint_path``, ``pretrained*``,
file paths or URLs), so it cannot make selfsup open or download another file. A damaged or mismatched
file is one ``ValueError`` naming it.
For timm backbones the weights are also saved under timm's own names
(``<path>.timm.safetensors``) and the JSON carries ``"timm"``, the keyword arguments of
``timm.create_model`` (``model_name``, ``img_size``, ``in_chans``, ...), so plain timm rebuilds the encoder
with no selfsup installed: ``timm.create_model(**meta["timm"]).load_state_dict(weights, strict=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from selfsup.backbones import create_backbone
from selfsup.backbones.safe_spec import check_backbone_spec

FORMAT_VERSION = 1
SUFFIXES = (".timm.safetensors", ".safetensors", ".json")


def _paths(path: str | Path) -> tuple[Path, Path]:
    """``PATH.safetensors`` and ``PATH.json``: the whole name is kept (``enc.v1.5`` -> ``enc.v1.5.json``);
    a trailing ``.safetensors``, ``.timm.safetensors`` or ``.json`` names the same export."""
    path = Path(path)
    name = next((path.name[: -len(s)] for s in SUFFIXES if path.name.endswith(s)), path.name)
    return path.with_name(name + ".safetensors"), path.with_name(name + ".json")


def export_files(path: str | Path) -> list[Path]:
    """Every file an export to ``path`` may write: weights, the timm-named weights and the JSON."""
    weights, meta = _paths(path)
    return [weights, weights.with_suffix(".timm.safetensors"), meta]


def export_encoder(encoder: nn.Module, path: str | Path, **metadata: Any) -> Path:
    """Save ``encoder`` (a selfsup backbone) to ``path``.safetensors/.json; returns the weights path."""
    spec = getattr(encoder, "spec", None)
    if spec is None:
        raise TypeError(
            "export_encoder needs a selfsup backbone (with a .spec); build it with create_backbone"
        )
    weights, meta_path = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()}
    save_file(state, str(weights))
    timm_path = weights.with_suffix(".timm.safetensors")
    if hasattr(encoder, "timm_state_dict"):
        timm_state = {k: v.detach().contiguous().cpu() for k, v in encoder.timm_state_dict().items()}
        save_file(timm_state, str(timm_path))
    else:
        timm_path.unlink(missing_ok=True)  # a stale one from an earlier export to the same path
    meta = {
        "format_version": FORMAT_VERSION,
        "backbone": spec,
        "num_features": encoder.num_features,
        **metadata,
    }
    if hasattr(encoder, "timm_state_dict"):
        meta["timm"] = {
            "model_name": encoder.model_name,
            "pretrained": False,
            "num_classes": 0,
            **encoder.timm_kwargs,
        }
    meta_path.write_text(json.dumps(meta, indent=2, default=str))
    return weights


def load_encoder(path: str | Path, map_location: str = "cpu") -> nn.Module:
    """Rebuild and load an encoder written by ``export_encoder`` (path with or without suffix)."""
    weights, meta_path = _paths(path)
    for p in (weights, meta_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"encoder file {p} not found; export one with `selfsup export --checkpoint RUN/checkpoints/last.ckpt`"
            )
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as err:
        raise ValueError(f"{meta_path} is not valid JSON ({err}); re-export the encoder") from err
    if not isinstance(meta, dict):
        raise ValueError(
            f"{meta_path} must hold a JSON object, got {type(meta).__name__}; re-export the encoder"
        )
    if "backbone" not in meta:
        raise ValueError(f"{meta_path} has no backbone spec; it was not written by selfsup.export_encoder")
    name, kwargs = check_backbone_spec(meta["backbone"], str(meta_path))
    try:
        encoder = create_backbone(name, **kwargs)
    except TypeError as err:  # a kwarg of the right kind the architecture does not take
        raise ValueError(f"{meta_path}: backbone {name!r} cannot be built from {kwargs} ({err})") from err
    try:
        state = load_file(str(weights), device=map_location)
    except Exception as err:  # SafetensorError: truncated, not safetensors, bad header
        raise ValueError(
            f"{weights} is damaged or not a safetensors file ({err}); re-export the encoder"
        ) from err
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
    except RuntimeError as err:  # size mismatches
        reason = " ".join(str(err).split())[:300]
        raise ValueError(
            f"{weights} does not fit backbone {name} of {meta_path} ({reason}); re-export it"
        ) from err
    if missing or unexpected:
        raise ValueError(
            f"{weights} does not match backbone {name}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return encoder.eval()


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON beside an exported encoder."""
    return json.loads(_paths(path)[1].read_text())
