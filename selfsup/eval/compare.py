"""``selfsup compare``: pretrain several methods on the same data and budget, evaluate all alike.

Each method is pretrained from its own shipped config ``<method>_<data>.yaml`` (``selfsup.configs``; or
``<method>_image_folder.yaml`` with ``data.root`` for a folder) with the same wall-clock
budget (``train.time_budget_minutes``, step count calibrated at start) or the same step count, in
a **separate process**: a method that crashes is reported in its row and the others go on, and a
re-run reuses every finished run of the same settings and continues a half-finished one from its last
checkpoint (an interrupted comparison loses at most one checkpoint interval of the method in flight; a
run trained with other settings is refused, ``selfsup.eval.pretrain_runs``).
Every encoder is then evaluated by the same code on the same splits: kNN and linear probe on
frozen features on the validation split carved from train (the leaderboard ranks by it) and on
the test split, linear probe with 1 % and 10 % of the labels (``label_efficiency.label_subset``,
identical subsets for every method), RankMe and uniformity of the test embeddings, plus the
run's training throughput and peak memory (``train_stats.json``). Raw pixels and a random-init
copy of every distinct backbone are reference rows.

With ``seeds`` > 1 every method trains once per seed (``train.seed``; seed 0 in ``runs/<method>``,
seed k in ``runs/<method>-seed<k>``), each seed's encoder is scored with that seed's probes and label
subsets, the reference rows are repeated per seed (random init re-drawn with the seed), and the
leaderboard shows the mean ± sample std over seeds (``leaderboard_seeds.csv`` keeps every seed's row).
"""

from __future__ import annotations

import csv
import json
import logging
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from torch import Tensor, nn

from selfsup.configs import CONFIG_DIR
from selfsup.eval.baselines import knn_val_and_test, random_init_copy
from selfsup.eval.features import extract_features, raw_pixel_features
from selfsup.eval.label_efficiency import label_subset
from selfsup.eval.linear_probe import linear_probe
from selfsup.eval.pretrain_runs import (
    finished_run_matches,
    pretrain_in_subprocess,
    resumable_checkpoint,
    run_identity,
)
from selfsup.eval.protocol import EvalData, load_eval_data
from selfsup.monitors.quality import rankme, uniformity
from selfsup.runs import input_spec_of, load_run
from selfsup.train.train_stats import load_train_stats

log = logging.getLogger(__name__)
LABEL_FRACTIONS = (0.01, 0.1)
ACCURACIES = ("knn_val", "linear_val", "knn", "linear", "linear_1pct", "linear_10pct")


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
    seed: int | None = 0  # None on a row that aggregates seeds
    seeds: int = 1  # seeds that finished, on an aggregated row
    knn_val_std: float | None = None  # sample std over seeds of each accuracy (>= 2 seeds)
    linear_val_std: float | None = None
    knn_std: float | None = None
    linear_std: float | None = None
    linear_1pct_std: float | None = None
    linear_10pct_std: float | None = None


def aggregate_seeds(rows: Sequence[LeaderboardRow]) -> LeaderboardRow:
    """One row for one method's seeds: each numeric column's mean over the seeds that finished, the
    accuracies' sample std (``*_std``, from 2 seeds on) and ``seeds`` = how many finished."""
    if not rows or len({r.method for r in rows}) != 1:
        raise ValueError(f"aggregate_seeds needs the rows of one method, got {[r.method for r in rows]}")
    ok = [r for r in rows if r.status == "ok"]
    failed = [r for r in rows if r.status != "ok"]
    out = LeaderboardRow(rows[0].method, backbone=next((r.backbone for r in rows if r.backbone), ""))
    out.seed = rows[0].seed if len(rows) == 1 else None
    out.seeds = len(ok)
    if failed:
        first = failed[0]
        out.status = (
            first.status if not ok else f"{len(ok)}/{len(rows)} seeds ok; seed {first.seed} {first.status}"
        )
    skip = {"method", "backbone", "status", "seed", "seeds", *(f"{a}_std" for a in ACCURACIES)}
    for f in fields(LeaderboardRow):
        values = [getattr(r, f.name) for r in ok if getattr(r, f.name) is not None]
        if f.name in skip or not values:
            continue
        mean = statistics.fmean(values)
        setattr(out, f.name, round(mean) if all(isinstance(v, int) for v in values) else mean)
        if f.name in ACCURACIES and len(values) >= 2:
            setattr(out, f"{f.name}_std", statistics.stdev(values))
    return out


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
    seeds: int = 1,
) -> list[LeaderboardRow]:
    """Pretrain (or reuse) and evaluate every method at seeds ``0 .. seeds - 1``; returns one row per
    method (mean over seeds), then the reference rows; writes leaderboard.csv / .md under ``out_dir``."""
    if (budget_minutes is None) == (steps is None):
        raise ValueError("give exactly one of a time budget (--budget 10m) or a step count (--steps N)")
    if len(set(methods)) != len(methods) or not methods:
        raise ValueError(f"methods must be distinct and non-empty, got {list(methods)}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    out = Path(out_dir)
    configs = {m: find_config(configs_dir, m, data) for m in methods}  # fail before any training
    budget = (
        [f"train.time_budget_minutes={budget_minutes}"] if budget_minutes else [f"train.max_steps={steps}"]
    )
    common = [f"data.name={data}", *([f"data.root={root}"] if root else []), *budget, *overrides]
    (out / "runs").mkdir(parents=True, exist_ok=True)
    rows: list[LeaderboardRow] = []
    per_seed: list[LeaderboardRow] = []
    eval_data: dict[int | None, EvalData] = {}
    # JSON [architecture, image size] -> (architecture, image size, a trained encoder of it)
    backbones: dict[str, tuple[dict, int | None, nn.Module]] = {}

    def data_for(size: int | None) -> EvalData:  # loaded once per image size, shared by every run
        if size not in eval_data:
            eval_data[size] = load_eval_data(data, root, size, max_train, max_test)
        return eval_data[size]

    for method in methods:
        runs = []
        for seed in range(seeds):
            name = method if seed == 0 else f"{method}-seed{seed}"
            row = LeaderboardRow(method, seed=seed)
            error = _pretrain(method, seed, configs[method], out, name, common, retrain)
            if error is not None:
                row.status = f"failed: {error[:200]}"
            else:
                encoder, size, architecture = _score_run(out / "runs" / name, row, data_for)
                key = json.dumps([architecture, size], sort_keys=True)
                backbones.setdefault(key, (architecture, size, encoder))
            runs.append(row)
            per_seed.append(row)
        rows.append(aggregate_seeds(runs))
        _write(rows, out, per_seed if seeds > 1 else None)  # kept if a later method is interrupted
    refs = [_reference_rows(backbones, eval_data, seed) for seed in range(seeds)]
    per_seed += [row for ref in refs for row in ref]
    rows += [aggregate_seeds([ref[i] for ref in refs]) for i in range(len(refs[0]))]
    _write(rows, out, per_seed if seeds > 1 else None)
    return rows


def _pretrain(
    method: str, seed: int, config: Path, out: Path, name: str, common: Sequence[str], retrain: bool
) -> str | None:
    """Pretrain ``method`` at ``seed`` into ``out/runs/<name>`` unless a finished run of the same
    settings is there (a half-finished one continues from its last checkpoint); the last error line if
    it failed, else None."""
    run_dir = out / "runs" / name
    overrides = [*common, f"train.seed={seed}"]
    if not retrain and finished_run_matches(run_dir, run_identity(method, config, overrides)):
        return None
    checkpoint = None if retrain else resumable_checkpoint(method, config, run_dir, overrides)
    doing = "pretraining" if checkpoint is None else f"resuming from {checkpoint}:"
    log.warning("compare: %s %s, seed %d (%s)", doing, method, seed, config)
    started = time.perf_counter()
    ok, error = pretrain_in_subprocess(
        method, config, run_dir, overrides, out / f"{name}.log", resume_from=checkpoint
    )
    minutes = (time.perf_counter() - started) / 60
    log.warning("compare: %s seed %d %s in %.1f min", method, seed, "done" if ok else "FAILED", minutes)
    return None if ok else error


def _score_run(
    run_dir: Path, row: LeaderboardRow, data_for: Callable[[int | None], EvalData]
) -> tuple[nn.Module, int | None, dict]:
    """Fill ``row`` from the finished run's training stats and its encoder's scores (probes seeded with
    ``row.seed``); returns the encoder, its image size and its architecture (the export's ``backbone``
    record: name and constructor kwargs)."""
    export = run_dir / "encoder.safetensors"
    run = load_run(export)  # the export, not the checkpoint: the encoder alone, read once
    encoder, spec = run.encoder, run.spec or input_spec_of(export)  # the latter names a missing record
    architecture = run.metadata.get("backbone") or {}
    row.backbone = str(architecture.get("name", ""))
    stats = load_train_stats(run_dir) or {}
    row.steps, row.images_per_second = stats.get("steps"), stats.get("images_per_second")
    row.peak_memory_mb = stats.get("peak_memory_mb")
    row.train_minutes = round(stats["fit_seconds"] / 60, 2) if "fit_seconds" in stats else None
    data = data_for(spec.image_size)
    score_features(*_features(encoder, data, spec.image_size, spec.mean, spec.std), data, row, row.seed or 0)
    log.warning(
        "compare: %s seed %s kNN %.2f%% linear %.2f%%", row.method, row.seed, 100 * row.knn, 100 * row.linear
    )
    return encoder, spec.image_size, architecture


def reference_names(architectures: Sequence[dict]) -> list[str]:
    """``random init (<name>)`` per architecture (``{"name", "kwargs"}``), with the kwargs that tell it
    apart from another architecture of the same name (DINO's and MAE's ViTs are both
    ``timm:vit_tiny_patch16_224``, at widths 64 and 128)."""
    names = []
    for arch in architectures:
        kwargs = arch.get("kwargs") or {}
        same_name = [a.get("kwargs") or {} for a in architectures if a.get("name") == arch.get("name")]
        differing = [k for k in kwargs if any(other.get(k) != kwargs[k] for other in same_name)]
        detail = "".join(f", {k} {kwargs[k]}" for k in differing)
        names.append(f"random init ({arch.get('name', '')}{detail})")
    return names


def _reference_rows(
    backbones: dict[str, tuple[dict, int | None, nn.Module]], eval_data: dict, seed: int = 0
) -> list[LeaderboardRow]:
    """Raw pixels and a random-init copy (drawn with ``seed``) of every backbone, probed with ``seed``.

    ``backbones``: JSON ``[architecture, image size]`` -> (architecture, image size, a trained encoder of
    it); two runs share a reference only when name, kwargs and size all match."""
    refs = []
    if eval_data:
        size, data = next(iter(eval_data.items()))
        row = LeaderboardRow(
            "raw pixels", backbone="-", feature_dim=int(data.train_images[0].numel()), seed=seed
        )
        tr, te = raw_pixel_features(data.train_images), raw_pixel_features(data.test_images)
        score_features(tr, te, data, row, seed)
        refs.append(row)
    entries = list(backbones.values())
    for (architecture, size, encoder), label in zip(
        entries, reference_names([arch for arch, _, _ in entries]), strict=True
    ):
        row = LeaderboardRow(label, backbone=str(architecture.get("name", "")), seed=seed)
        # Random weights, default normalization: the architecture alone (DeepCluster, Table 1).
        features = _features(random_init_copy(encoder, seed=seed), eval_data[size], size)
        score_features(*features, eval_data[size], row, seed)
        refs.append(row)
    return refs


def _cell(row: LeaderboardRow, name: str) -> str:
    value = getattr(row, name)
    if value is None:
        return "-"
    if name in ACCURACIES:
        std = getattr(row, f"{name}_std")
        return f"{100 * value:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def format_leaderboard(rows: Sequence[LeaderboardRow]) -> str:
    """Markdown, trained methods ranked by validation kNN accuracy (%), reference rows last.

    ``val`` columns: the validation split carved from train; ``test`` columns: the test split, scored
    once; the 1 % / 10 % probes are fit on label subsets of train and scored on test. A row over
    several seeds shows each accuracy's mean ± sample std and the other columns' means."""
    columns = {
        "kNN val": "knn_val", "linear val": "linear_val", "kNN test": "knn", "linear test": "linear",
        "linear 1% test": "linear_1pct", "linear 10% test": "linear_10pct",
        "RankMe": "rankme", "uniformity": "uniformity", "steps": "steps", "train min": "train_minutes",
        "img/s": "images_per_second", "peak MB": "peak_memory_mb", "seeds": "seeds",
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


def _write(
    rows: Sequence[LeaderboardRow], out: Path, per_seed: Sequence[LeaderboardRow] | None = None
) -> None:
    """leaderboard.csv / .md of ``rows``; with ``per_seed``, also leaderboard_seeds.csv (one row per seed)."""
    for name, table in (("leaderboard.csv", rows), ("leaderboard_seeds.csv", per_seed)):
        if table is None:
            continue
        with open(out / name, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=[fl.name for fl in fields(LeaderboardRow)])
            writer.writeheader()
            writer.writerows(asdict(r) for r in table)
    (out / "leaderboard.md").write_text(format_leaderboard(rows) + "\n")
