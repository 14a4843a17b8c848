"""What a run, a training checkpoint or an exported encoder says about its input.

``input_spec_of(path)`` reads the ``InputSpec`` (image size, channels, normalization, training
dataset) from

- a run directory ``RUN/`` or a checkpoint inside it ``RUN/checkpoints/*.ckpt``: ``RUN/derived.json``
  (written when the run starts), else the run's exported ``RUN/encoder.json``;
- an exported encoder ``X.safetensors`` / ``X.json`` / the prefix ``X``: the JSON's ``input``
  record (older exports: its ``image_size`` / ``mean`` / ``std`` and the backbone's ``in_chans``).

It reads JSON only, never the training data and never a pickle. ``check_eval_input`` is the one
rule every evaluation command applies: it uses the encoder's own input unless an explicit option
contradicts it, which is an error naming both values unless the user says it is deliberate.
"""

from __future__ import annotations

import json
from pathlib import Path

from selfsup.types import InputSpec

ALLOW_MISMATCH_FLAG = "--allow-input-mismatch"


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} cannot be read as JSON ({err}); re-export the encoder") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def spec_from_export_metadata(meta: dict, source: Path) -> InputSpec:
    """The ``InputSpec`` recorded in an exported encoder's JSON (``source`` names it in errors)."""
    if isinstance(meta.get("input"), dict):
        return InputSpec.from_dict(meta["input"])
    backbone = meta.get("backbone") if isinstance(meta.get("backbone"), dict) else {}
    kwargs = backbone.get("kwargs") if isinstance(backbone.get("kwargs"), dict) else {}
    size = meta.get("image_size") or kwargs.get("image_size")
    if not size:
        raise ValueError(f"{source} records no image_size; re-export the encoder with `selfsup export`")
    data = (meta.get("config") or {}).get("data") or {}
    mean, std = meta.get("mean"), meta.get("std")
    return InputSpec(
        image_size=int(size),
        channels=int(kwargs.get("in_chans", 3)),
        mean=None if mean is None else tuple(mean),
        std=None if std is None else tuple(std),
        dataset=data.get("name"),
        root=data.get("root"),
    )


def _run_dir_of(path: Path) -> Path | None:
    if path.is_dir():
        return path
    if path.suffix == ".ckpt":
        return path.parent.parent
    return None


def input_spec_of(path: str | Path) -> InputSpec:
    """The ``InputSpec`` of a run directory, a checkpoint inside one, or an exported encoder."""
    path = Path(path)
    run_dir = _run_dir_of(path)
    if run_dir is not None:
        derived = run_dir / "derived.json"
        if derived.is_file() and isinstance(_read_json(derived).get("input"), dict):
            return InputSpec.from_dict(_read_json(derived)["input"])
        export = run_dir / "encoder.json"
        if export.is_file():
            return spec_from_export_metadata(_read_json(export), export)
        raise ValueError(
            f"{run_dir} records no input (derived.json has no 'input' and there is no encoder.json); "
            "it was written by an older selfsup: export it with `selfsup export --checkpoint CKPT`"
        )
    meta_path = (
        path.with_suffix(".json") if path.suffix in (".safetensors", ".json") else Path(f"{path}.json")
    )
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{meta_path} not found; pass a run directory, RUN/checkpoints/*.ckpt or RUN/encoder.safetensors"
        )
    return spec_from_export_metadata(_read_json(meta_path), meta_path)


def check_eval_input(
    spec: InputSpec,
    source: str,
    image_size: int | None = None,
    channels: int | None = None,
    data: str | None = None,
    allow_mismatch: bool = False,
) -> int:
    """The image size to evaluate at: the encoder's own, unless ``image_size`` deliberately differs.

    ``image_size`` / ``channels``: what an option or the evaluation dataset asks for (None = not asked).
    A value that contradicts ``spec`` is an error naming both (``data`` names the dataset for a
    channel mismatch), unless ``allow_mismatch`` (the user's ``--allow-input-mismatch``).
    """
    if image_size is not None and image_size != spec.image_size and not allow_mismatch:
        raise ValueError(
            f"{source} was trained at {spec.image_size} px but --image-size {image_size} was given; "
            f"drop --image-size to evaluate as trained, or add {ALLOW_MISMATCH_FLAG} to evaluate at "
            f"{image_size} px deliberately"
        )
    if channels is not None and channels != spec.channels and not allow_mismatch:
        what = f"dataset {data!r}" if data else "the input"
        raise ValueError(
            f"{source} takes {spec.channels}-channel images but {what} has {channels} channel(s); "
            f"evaluate on a {spec.channels}-channel dataset (it was trained on {spec.dataset!r}), or add "
            f"{ALLOW_MISMATCH_FLAG} to convert the images deliberately"
        )
    return image_size if image_size is not None else spec.image_size
