"""Read everything a run directory holds for the report, tolerating what a run does not have.

A run directory (``selfsup.train.run_dir``) may contain::

    RUN/config.yaml               effective config                      (required)
    RUN/derived.json              global batch, steps, lr, ..., the encoder's input (size, data)
    RUN/logs/version_N/metrics.csv  Lightning CSV log, one per (resumed) segment
    RUN/results.json              kNN / linear table: [{name, knn, linear, knn_val, linear_val,
                                  feature_dim, seconds}]; knn/linear: test split, *_val: validation
    RUN/eval_splits.json          which images the validation and test columns scored
    RUN/quality.json              label-free signals: {"rankme": .., "uniformity": .., ...}
    RUN/label_efficiency.json     [{encoder, protocol, fraction, num_labels, accuracy}]
    RUN/viz/**/*.png              pictures the report shows as they are (the RUN/viz convention)
    RUN/encoder.safetensors       exported encoder (+ encoder.json)

**The RUN/viz convention.** Any PNG (or JPEG) under ``RUN/viz/`` is shown in the report, in
sorted path order, grouped by sub-folder, captioned with its file name; a sibling ``.txt`` with the
same stem, if present, is used as the caption instead. Methods and ``selfsup viz`` commands that
draw pictures of a run (MAE reconstructions, attention maps, inpainting or colorization grids)
should write them there, e.g. ``RUN/viz/reconstructions/mask075.png``.

Metrics: the CSV logs of all segments are merged by step (a later segment wins where a resumed run
logged a step twice). Every column except ``step`` and ``epoch`` is a metric; empty cells (a
metric not logged at that step) are skipped.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["IMAGE_SUFFIXES", "RunArtifacts", "load_run", "metric_group", "group_metrics"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GROUPS = ("loss", "accuracy", "schedule", "monitors", "other")
_SCHEDULE = re.compile(r"(^|/)(lr|weight_decay|momentum|teacher_temp\w*|temperature|logit_scale)$")
_MONITOR = re.compile(r"entropy|(^|[/_])kl|std|collapse|rankme|uniformity|alignment|grad_norm")


@dataclass
class RunArtifacts:
    """What one run directory holds; absent parts are ``None`` / empty."""

    path: Path
    name: str
    config: dict[str, Any]
    config_text: str
    derived: dict[str, Any] | None = None
    metrics: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    results: list[dict[str, Any]] | None = None
    eval_splits: dict[str, Any] | None = None
    quality: dict[str, float] | None = None
    label_efficiency: list[dict[str, Any]] | None = None
    images: list[Path] = field(default_factory=list)

    @property
    def method(self) -> str:
        method = self.config.get("method")
        return str(method.get("name", "?")) if isinstance(method, dict) else str(method or "?")

    @property
    def encoder_path(self) -> Path | None:
        p = self.path / "encoder.safetensors"
        return p if p.is_file() and p.with_suffix(".json").is_file() else None


def metric_group(column: str) -> str:
    """``"loss" | "accuracy" | "schedule" | "monitors" | "other"`` for a metrics.csv column."""
    name = column.lower()
    if "loss" in name:
        return "loss"
    if "acc" in name or "knn" in name:
        return "accuracy"
    if _SCHEDULE.search(name):
        return "schedule"
    if _MONITOR.search(name):
        return "monitors"
    return "other"


def group_metrics(columns: list[str]) -> dict[str, list[str]]:
    """Columns by group, in ``GROUPS`` order, each group sorted; empty groups left out."""
    out: dict[str, list[str]] = {g: [] for g in GROUPS}
    for c in columns:
        out[metric_group(c)].append(c)
    return {g: sorted(cs) for g, cs in out.items() if cs}


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}); delete or fix it and run the report again"
        ) from err


def _version_key(p: Path) -> int:
    tail = p.parent.name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def read_metrics(run_dir: Path) -> dict[str, tuple[list[float], list[float]]]:
    """``{column: (steps, values)}`` from every ``logs/version_*/metrics.csv``, merged by step."""
    by_col: dict[str, dict[float, float]] = {}
    for csv_path in sorted(run_dir.glob("logs/*/metrics.csv"), key=_version_key):
        with csv_path.open(newline="") as f:
            for row in csv.DictReader(f):
                step_cell = row.get("step") or ""
                try:
                    step = float(step_cell)
                except ValueError:
                    continue
                for col, cell in row.items():
                    if col in ("step", "epoch") or col is None or cell in (None, ""):
                        continue
                    try:
                        by_col.setdefault(col, {})[step] = float(cell)
                    except ValueError:
                        continue
    return {c: (sorted(v), [v[s] for s in sorted(v)]) for c, v in sorted(by_col.items())}


def find_images(run_dir: Path) -> list[Path]:
    viz = run_dir / "viz"
    if not viz.is_dir():
        return []
    return sorted(p for p in viz.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_run(path: str | Path) -> RunArtifacts:
    """Read a run directory (the folder holding ``config.yaml``)."""
    run_dir = Path(path)
    if run_dir.is_file() and run_dir.suffix == ".ckpt":
        run_dir = run_dir.parent.parent
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a run directory (no config.yaml); pass the folder `selfsup pretrain` "
            "wrote, e.g. runs/simclr-fashion_mnist-20261122-120000"
        )
    text = config_path.read_text()
    config = yaml.safe_load(text) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} does not hold a mapping; it was not written by selfsup pretrain")
    results = _read_json(run_dir / "results.json")
    if results is not None and not isinstance(results, list):
        raise ValueError(f"{run_dir / 'results.json'} must be a list of rows, got {type(results).__name__}")
    quality = _read_json(run_dir / "quality.json")
    return RunArtifacts(
        path=run_dir,
        name=run_dir.resolve().name,
        config=config,
        config_text=text,
        derived=_read_json(run_dir / "derived.json"),
        metrics=read_metrics(run_dir),
        results=results,
        eval_splits=_read_json(run_dir / "eval_splits.json"),
        quality={k: float(v) for k, v in quality.items()} if isinstance(quality, dict) else None,
        label_efficiency=_read_json(run_dir / "label_efficiency.json"),
        images=find_images(run_dir),
    )
