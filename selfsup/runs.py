"""A run, a training checkpoint or an exported encoder: what it says about its input, and loading it back.

``input_spec_of(path)`` reads the ``InputSpec`` (image size, channels, normalization, training
dataset) from

- a run directory ``RUN/`` or a checkpoint inside it ``RUN/checkpoints/*.ckpt``: ``RUN/derived.json``
  (written when the run starts), else the run's exported ``RUN/encoder.json``;
- an exported encoder ``X.safetensors`` / ``X.json`` / the prefix ``X``: the JSON's ``input``
  record (older exports: its ``image_size`` / ``mean`` / ``std`` and the backbone's ``in_chans``).

It reads JSON only, never the training data and never a pickle. ``check_eval_input`` is the one
rule every evaluation command applies: it uses the encoder's own input unless an explicit option
contradicts it, which is an error naming both values unless the user says it is deliberate.
``load_run`` loads any of the three back (a checkpoint's method rebuilt at its recorded input): the one
loader behind every evaluation, visualization, zero-shot and export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def spec_from_export_metadata(meta: dict, source: Path, required: bool = True) -> InputSpec | None:
    """The ``InputSpec`` recorded in an exported encoder's JSON (``source`` names it in errors).

    An export that records no image size is an error, or None when not ``required``."""
    if isinstance(meta.get("input"), dict):
        return InputSpec.from_dict(meta["input"])
    backbone = meta.get("backbone") if isinstance(meta.get("backbone"), dict) else {}
    kwargs = backbone.get("kwargs") if isinstance(backbone.get("kwargs"), dict) else {}
    size = meta.get("image_size") or kwargs.get("image_size")
    if not size and not required:
        return None
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


def _recorded_spec(run_dir: Path) -> InputSpec | None:
    """The run's ``InputSpec`` from ``derived.json``, else from its export; None when neither records it."""
    derived = run_dir / "derived.json"
    if derived.is_file():
        record = _read_json(derived).get("input")
        if isinstance(record, dict):
            return InputSpec.from_dict(record)
    export = run_dir / "encoder.json"
    return spec_from_export_metadata(_read_json(export), export) if export.is_file() else None


def input_spec_of(path: str | Path) -> InputSpec:
    """The ``InputSpec`` of a run directory, a checkpoint inside one, or an exported encoder."""
    path = Path(path)
    run_dir = _run_dir_of(path)
    if run_dir is not None:
        spec = _recorded_spec(run_dir)
        if spec is None:
            raise ValueError(
                f"{run_dir} records no input (derived.json has no 'input' and there is no encoder.json); "
                "it was written by an older selfsup: export it with `selfsup export --checkpoint CKPT`"
            )
        return spec
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


@dataclass
class LoadedRun:
    """A run, training checkpoint or exported encoder loaded back (``load_run``), on the CPU in eval mode.

    ``encoder``: what evaluation receives, fp32. ``method`` (heads, decoders) and ``config`` (the
    ``RunConfig`` of ``RUN/config.yaml``) exist only when a training checkpoint was loaded; an export
    carries the encoder alone. ``metadata``: the export's JSON, or for a checkpoint the same keys an
    export would record (method, mean, std, steps).
    """

    encoder: Any  # torch.nn.Module
    spec: InputSpec | None  # None only for an export that records no input (patch features need none)
    label: str  # "<method> (<run or file name>)", for figures and tables
    metadata: dict
    step: int  # optimizer steps the weights had taken
    method: Any = None  # selfsup.methods.base.Method, or None for an exported encoder
    config: Any = None  # selfsup.train.config.RunConfig, or None for an exported encoder
    run_dir: Path | None = None


def load_run(path: str | Path, expected: str | None = None, need_method: bool = False) -> LoadedRun:
    """Load ``RUN/`` (its ``checkpoints/last.ckpt``, else its ``encoder.safetensors``), a checkpoint
    ``RUN/checkpoints/*.ckpt`` or an exported encoder (``X.safetensors`` / ``X.json`` / prefix ``X``).

    ``expected``: the method the caller needs (an error names the run's method otherwise).
    ``need_method``: the caller needs the whole method (heads, decoders), which only a training
    checkpoint holds. Weights are read with ``torch.load(weights_only=True)`` or safetensors: tensors
    and plain containers only, never pickled code.
    """
    path = Path(path)
    if path.is_dir():
        checkpoint, export = path / "checkpoints" / "last.ckpt", path / "encoder.safetensors"
        if not checkpoint.is_file() and not export.is_file():
            raise FileNotFoundError(f"{path} holds neither checkpoints/last.ckpt nor encoder.safetensors")
        path = checkpoint if checkpoint.is_file() else export
    if path.suffix == ".ckpt":
        return _load_checkpoint(path, expected)
    from selfsup.export import load_encoder, read_metadata

    metadata = read_metadata(path)
    method_name = metadata.get("method", "encoder")
    if need_method:
        raise ValueError(
            f"{path} is an exported encoder (no heads or decoders); pass the run's training checkpoint "
            "RUN/checkpoints/last.ckpt"
        )
    if expected is not None and method_name != expected:
        raise ValueError(f"{path} is a {method_name!r} encoder; this needs a {expected!r} run")
    stem = path.name.removesuffix(".safetensors").removesuffix(".json")
    in_run = stem == "encoder"  # RUN/encoder.safetensors, as pretrain writes it
    return LoadedRun(
        load_encoder(path).float().eval(),
        spec_from_export_metadata(metadata, path, required=False),
        f"{method_name} ({path.parent.name if in_run else stem})",
        metadata,
        int(metadata.get("steps") or 0),
        run_dir=path.resolve().parent if in_run else None,
    )


def _load_checkpoint(checkpoint: Path, expected: str | None) -> LoadedRun:
    """Rebuild the method of ``RUN/checkpoints/*.ckpt`` from ``RUN/config.yaml`` at its recorded input.

    Runs that predate the input record learn channels and size from their training dataset, as
    ``pretrain`` chose them.
    """
    import torch

    from selfsup.train.build import build_method, input_spec
    from selfsup.train.config_loader import load_run_config
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
    spec = _recorded_spec(run_dir)
    if spec is not None:
        method = build_method(cfg, spec.channels, spec.image_size)
    else:
        from selfsup.data import create_dataset

        data = create_dataset(cfg.data.name, "train", root=cfg.data.root, image_size=cfg.data.image_size)
        size = cfg.data.image_size or data.image_size[0]
        method = build_method(cfg, data.channels, size)
        spec = input_spec(method, cfg, size)
    weights = {
        k.removeprefix("method."): v for k, v in state["state_dict"].items() if k.startswith("method.")
    }
    method.load_state_dict(weights)
    method.eval()
    step = int(state.get("global_step", 0))
    mean, std = method.normalization()
    metadata = {"method": cfg.method_name, "mean": mean, "std": std, "steps": step}
    label = f"{cfg.method_name} ({run_dir.name})"
    return LoadedRun(method.encoder.float().eval(), spec, label, metadata, step, method, cfg, run_dir)


def export_from_checkpoint(checkpoint: Path, out: Path | None = None) -> Path:
    """Rebuild the run's method at its recorded input, load the checkpoint weights, export the encoder.

    :func:`load_run` reads ``RUN/config.yaml``, the input spec of ``RUN/derived.json`` (runs
    that predate it: their training dataset) and the checkpoint with ``torch.load(weights_only=True)``:
    tensors and plain containers only, no arbitrary unpickling.
    """
    from selfsup.train.checkpoint import export_method

    run = load_run(checkpoint, need_method=True)
    return export_method(
        run.method, run.config, out or run.run_dir / "encoder", run.spec.image_size, run.step
    )
