"""``selfsup compare``: pretrain several methods on the same data and budget, evaluate all alike.

Each method is pretrained from its own shipped config ``<method>_<data>.yaml`` (``selfsup.configs``; or
``<method>_image_folder.yaml`` with ``data.root`` for a folder) with the same wall-clock
budget (``train.time_budget_minutes``, step count calibrated at start) or the same step count, in
a **separate process**: a method that crashes is reported in its row and the others go on, and a
re-run reuses every finished run (an interrupted comparison loses at most the method in flight).
Every encoder is then evaluated by the same code on the same splits: kNN and linear probe on
frozen features on the validation split carved from train (the leaderboard ranks by it) and on
the test split, linear probe with 1 % and 10 % of the labels (``label_efficiency.label_subset``,
identical subsets for every method), RankMe and uniformity of the test embeddings, plus the
run's training throughput and peak memory (``train_stats.json``). Raw pixels and a random-init
copy of every distinct backbone are reference rows.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from torch import Tensor, nn

from selfsup.configs import CONFIG_DIR
from selfsup.eval.baselines import knn_val_and_test, random_init_copy
from selfsup.eval.features import extract_features, raw_pixel_features
from selfsup.eval.label_efficiency import label_subset
from selfsup.eval.linear_probe import linear_probe
from selfsup.eval.protocol import EvalData, load_eval_data
from selfsup.monitors.quality import rankme, uniformity
from selfsup.runs import input_spec_of
from selfsup.train.train_stats import load_train_stats

log = logging.getLogger(__name__)
LABEL_FRACTIONS = (0.01, 0.1)


def parse_budget(text: str) -> float:
    """Minutes from "10m", "90s", "1.5h" or a bare number of minutes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"--budget must look like 10m, 90s or 1h (a positive duration), got {text!r}")
    return float(m.group(1)) * {"s": 1 / 60, "m": 1.0, "h": 60.0, "": 1.0}[m.group(2)]


def find_config(configs_dir: str | Path | None, method: str, data: str) -> Path:
    """``<method>_<data>.yaml`` in ``configs_dir`` (None: the configs shipped in the package, so it works
    from any directory); a folder dataset uses ``<method>_image_folder.yaml``."""
    configs_dir = CONFIG_DIR if configs_dir is None else Path(configs_dir)
    stem = "image_folder" if data in ("folder", "image_folder") else data
    path = configs_dir / f"{method}_{stem}.yaml"
    if not path.is_file():
        have = sorted(p.stem for p in configs_dir.glob(f"*_{stem}.yaml"))
        raise FileNotFoundError(
            f"no config {path} for method {method!r} on {data!r}; methods with a {stem} config: "
            f"{[h.removesuffix('_' + stem) for h in have]} (or pass --configs-dir)"
        )
    return path


@dataclass
class LeaderboardRow:
    method: str
    backbone: str = ""
    status: str = "ok"
    steps: int | None = None
    train_minutes: float | None = None
    images_per_second: float | None = None
    peak_memory_mb: float | None = None
    knn_val: float | None = None
    linear_val: float | None = None
    knn: float | None = None
    linear: float | None = None
    linear_1pct: float | None = None
    linear_10pct: float | None = None
    rankme: float | None = None
    uniformity: float | None = None
    feature_dim: int | None = None


def pretrain_in_subprocess(
    method: str, config: Path, run_dir: Path, overrides: Sequence[str], log_path: Path
) -> tuple[bool, str]:
    """Run ``selfsup pretrain`` for one method; (success, last error line)."""
    cmd = [
        sys.executable, "-m", "selfsup.cli", "pretrain", method, "--config", str(config), "--no-eval",
        f"train.out_dir={run_dir.parent}", f"train.run_name={run_dir.name}", "train.progress_bar=false",
        *overrides,
    ]  # fmt: skip
    with open(log_path, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode == 0 and (run_dir / "encoder.safetensors").is_file():
        return True, ""
    lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    return False, (lines[-1] if lines else f"exit code {proc.returncode}")


def _features(
    encoder: nn.Module, data: EvalData, image_size: int, mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    kw = dict(image_size=image_size, mean=mean, std=std)
    return extract_features(encoder, data.train_images, **kw), extract_features(
        encoder, data.test_images, **kw
    )


def score_features(train: Tensor, test: Tensor, data: EvalData, row: LeaderboardRow, seed: int = 0) -> None:
    """Fill ``row``'s accuracy and quality columns from frozen features."""
    ytr, yte = data.train_labels, data.test_labels
    classes = int(max(int(ytr.max()), int(yte.max()))) + 1
    row.feature_dim = int(train.shape[1])
    row.knn_val, row.knn = knn_val_and_test(train, ytr, test, yte, data.validation, k=20, temperature=0.07)
    probe = linear_probe(train, ytr, test, yte, seed=seed, num_classes=classes, split=data.validation)
    row.linear_val, row.linear = probe.val_accuracy, probe.test_accuracy
    for fraction, name in zip(LABEL_FRACTIONS, ("linear_1pct", "linear_10pct"), strict=True):
        idx = label_subset(ytr, fraction, seed)
        setattr(
            row,
            name,
            linear_probe(train[idx], ytr[idx], test, yte, seed=seed, num_classes=classes).test_accuracy,
        )
    row.rankme = rankme(test)
    row.uniformity = uniformity(test[:2000])


def compare(
    methods: Sequence[str],
    data: str = "fashion_mnist",
    out_dir: str | Path = "compare",
    budget_minutes: float | None = None,
    steps: int | None = None,
    root: str | None = None,
    configs_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    max_train: int | None = None,
    max_test: int | None = None,
    retrain: bool = False,
) -> list[LeaderboardRow]:
    """Pretrain (or reuse) and evaluate every method; writes leaderboard.csv / .md under ``out_dir``."""
    from selfsup.export import load_encoder, read_metadata

    if (budget_minutes is None) == (steps is None):
        raise ValueError("give exactly one of a time budget (--budget 10m) or a step count (--steps N)")
    if len(set(methods)) != len(methods) or not methods:
        raise ValueError(f"methods must be distinct and non-empty, got {list(methods)}")
    out = Path(out_dir)
    configs = {m: find_config(configs_dir, m, data) for m in methods}  # fail before any training
    budget = (
        [f"train.time_budget_minutes={budget_minutes}"] if budget_minutes else [f"train.max_steps={steps}"]
    )
    common = [f"data.name={data}", *([f"data.root={root}"] if root else []), *budget, *overrides]
    (out / "runs").mkdir(parents=True, exist_ok=True)
    rows: list[LeaderboardRow] = []
    eval_data: dict[int | None, EvalData] = {}
    backbones: dict[str, nn.Module] = {}
    for method in methods:
        run_dir = out / "runs" / method
        row = LeaderboardRow(method)
        rows.append(row)
        if retrain or not (run_dir / "encoder.safetensors").is_file():
            if run_dir.exists():
                shutil.rmtree(run_dir)  # a half-finished run from an interrupted comparison
            log.warning("compare: pretraining %s (%s)", method, configs[method])
            started = time.perf_counter()
            ok, error = pretrain_in_subprocess(
                method, configs[method], run_dir, common, out / f"{method}.log"
            )
            log.warning(
                "compare: %s %s in %.1f min",
                method,
                "done" if ok else "FAILED",
                (time.perf_counter() - started) / 60,
            )
            if not ok:
                row.status = f"failed: {error[:200]}"
                continue
        encoder, meta = (
            load_encoder(run_dir / "encoder.safetensors"),
            read_metadata(run_dir / "encoder.safetensors"),
        )
        row.backbone = str((meta.get("backbone") or {}).get("name", ""))
        stats = load_train_stats(run_dir) or {}
        row.steps, row.images_per_second = stats.get("steps"), stats.get("images_per_second")
        row.peak_memory_mb = stats.get("peak_memory_mb")
        row.train_minutes = round(stats["fit_seconds"] / 60, 2) if "fit_seconds" in stats else None
        spec = input_spec_of(run_dir / "encoder.safetensors")
        size = spec.image_size
        if size not in eval_data:
            eval_data[size] = load_eval_data(data, root, size, max_train, max_test)
        score_features(*_features(encoder, eval_data[size], size, spec.mean, spec.std), eval_data[size], row)
        backbones.setdefault(json.dumps([row.backbone, size]), encoder)
        log.warning("compare: %s kNN %.2f%% linear %.2f%%", method, 100 * row.knn, 100 * row.linear)
        _write(rows, out)  # keep what is done if a later method is interrupted
    rows += _reference_rows(backbones, eval_data)
    _write(rows, out)
    return rows


def _reference_rows(backbones: dict[str, nn.Module], eval_data: dict) -> list[LeaderboardRow]:
    refs = []
    if eval_data:
        size, data = next(iter(eval_data.items()))
        row = LeaderboardRow("raw pixels", backbone="-", feature_dim=int(data.train_images[0].numel()))
        tr, te = raw_pixel_features(data.train_images), raw_pixel_features(data.test_images)
        score_features(tr, te, data, row)
        refs.append(row)
    for key, encoder in backbones.items():
        name, size = json.loads(key)
        row = LeaderboardRow(f"random init ({name})", backbone=name)
        # Random weights, default normalization: the architecture alone (DeepCluster, Table 1).
        score_features(*_features(random_init_copy(encoder), eval_data[size], size), eval_data[size], row)
        refs.append(row)
    return refs


def _cell(row: LeaderboardRow, name: str) -> str:
    value = getattr(row, name)
    if value is None:
        return "-"
    if name in ("knn_val", "linear_val", "knn", "linear", "linear_1pct", "linear_10pct"):
        return f"{100 * value:.2f}"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def format_leaderboard(rows: Sequence[LeaderboardRow]) -> str:
    """Markdown, trained methods ranked by validation kNN accuracy (%), reference rows last.

    ``val`` columns: the validation split carved from train; ``test`` columns: the test split, scored
    once; the 1 % / 10 % probes are fit on label subsets of train and scored on test."""
    columns = {
        "kNN val": "knn_val", "linear val": "linear_val", "kNN test": "knn", "linear test": "linear",
        "linear 1% test": "linear_1pct", "linear 10% test": "linear_10pct",
        "RankMe": "rankme", "uniformity": "uniformity", "steps": "steps", "train min": "train_minutes",
        "img/s": "images_per_second", "peak MB": "peak_memory_mb",
    }  # fmt: skip
    lines = [
        "| method | backbone | " + " | ".join(columns) + " | status |",
        "|---|---|" + "---:|" * len(columns) + "---|",
    ]
    trained = [r for r in rows if not r.method.startswith(("raw pixels", "random init"))]
    refs = [r for r in rows if r not in trained]
    for r in sorted(trained, key=lambda r: -(r.knn_val if r.knn_val is not None else -1.0)) + refs:
        cells = [r.method, r.backbone or "-", *(_cell(r, name) for name in columns.values()), r.status]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _write(rows: Sequence[LeaderboardRow], out: Path) -> None:
    with open(out / "leaderboard.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[fl.name for fl in fields(LeaderboardRow)])
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)
    (out / "leaderboard.md").write_text(format_leaderboard(rows) + "\n")
