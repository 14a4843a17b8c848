"""Static, self-contained HTML report of one run, or a comparison of several runs.

``write_report([RUN])`` writes one page for a run; ``write_report([RUN_A, RUN_B, ...])`` one
comparison page (curves overlaid, results side by side, config differences); ``write_report([OUT])`` on
a ``selfsup compare`` folder the comparison of its runs under its leaderboard (``leaderboard.csv``). Everything is inline:
curves are SVG (``selfsup.viz.svg_chart``), pictures are ``data:image/png;base64`` URIs, the
style sheet is a ``<style>`` element; there are no scripts and no external references, so the
file opens anywhere without network access and can be mailed or archived as it is.

Sections (each only when the run has the data, see ``selfsup.viz.run_artifacts``): evaluation
results (``results.json``: kNN and linear top-1 on the validation split and on the test split, in
labelled columns, with the splits of ``eval_splits.json`` named under the table), label-free quality signals (computed on test embeddings, plus
``quality.json`` when the run logged one), label efficiency (``label_efficiency.json``), training
curves (every ``metrics.csv`` column, grouped: loss, accuracy, schedule, monitors, other),
collapse-monitor summary, embedding plot and retrieval grid (``selfsup.viz.run_embeddings``),
pictures under ``RUN/viz/``, the config and derived values.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfsup.viz.html_blocks import esc, fmt, img, mime, page, table
from selfsup.viz.run_artifacts import RunArtifacts, group_metrics, load_run
from selfsup.viz.run_embeddings import RunEmbeddings, run_embeddings
from selfsup.viz.svg_chart import Series, line_chart_svg

__all__ = ["QUALITY_HELP", "read_leaderboard", "render_comparison", "render_run", "write_report"]

log = logging.getLogger(__name__)

# What a good value looks like (selfsup.monitors.quality; D = embedding width).
QUALITY_HELP = {
    "rankme": "effective rank (Garrido et al. 2023); 1 = collapsed, higher (up to D) is better",
    "uniformity": "Wang & Isola 2020, t=2; 0 = collapsed, lower = more spread (about -3.9 at D=128)",
    "embedding_std": "std of L2-normalized embeddings; 0 = collapsed, 1/sqrt(D) = isotropic",
    "alignment": "Wang & Isola 2020, alpha=2, positive pairs; 0 = views agree, 4 = antipodal",
}
GROUP_TITLES = {
    "loss": "Loss",
    "accuracy": "Accuracy (pretext / online kNN)",
    "schedule": "Schedules",
    "monitors": "Monitors (collapse, embedding spread, gradients)",
    "other": "Other metrics",
}
COLLAPSE_NAMES = {0: "ok", 1: "uniform collapse", 2: "one-hot collapse", 3: "constant output"}


# ----------------------------------------------------------------------------- sections
def _results_rows(run: RunArtifacts, prefix: str = "") -> list[list[str]]:
    rows = []
    for r in run.results or []:
        name = f"{prefix}{r.get('name', '?')}"
        scores = [fmt(r.get(key), pct=True) for key in ("knn_val", "knn", "linear_val", "linear")]
        rows.append([esc(name), *scores, fmt(r.get("feature_dim")), fmt(r.get("seconds"))])
    return rows


# results.json: "knn" / "linear" are scored on the test split, "*_val" on the validation split.
RESULTS_HEADER = [
    "encoder",
    "kNN top-1 % (validation)",
    "kNN top-1 % (test)",
    "linear top-1 % (validation)",
    "linear top-1 % (test)",
    "feature dim",
    "eval seconds",
]


def _splits_note(run: RunArtifacts, prefix: str = "") -> str:
    """Which images the validation and test columns scored (``eval_splits.json``), '' if unrecorded."""
    rec = run.eval_splits
    if not isinstance(rec, dict):
        return ""
    parts = []
    val = rec.get("validation")
    if isinstance(val, dict):
        parts.append(
            f"validation: {val.get('images')} images carved from the {rec.get('dataset')} train split "
            f"({fmt(100 * float(val.get('fraction', 0)))} %, stratified, seed {val.get('seed')})"
        )
    test = rec.get("test")
    if isinstance(test, dict):
        parts.append(f"test: {test.get('images')} images of {test.get('source')}, scored once")
    return f'<p class="muted">{esc(prefix + "; ".join(parts))}</p>' if parts else ""


# leaderboard.csv of `selfsup compare` (one row per method, then the reference rows); accuracies as fractions,
# with their std over seeds in `<column>_std` when the comparison ran several seeds.
LEADERBOARD = {
    "method": "method", "backbone": "backbone", "knn_val": "kNN top-1 % (validation)",
    "linear_val": "linear top-1 % (validation)", "knn": "kNN top-1 % (test)", "linear": "linear top-1 % (test)",
    "linear_1pct": "linear, 1 % labels (test)", "linear_10pct": "linear, 10 % labels (test)",
    "rankme": "RankMe", "uniformity": "uniformity", "feature_dim": "feature dim", "steps": "steps",
    "train_minutes": "train min", "images_per_second": "images/s", "peak_memory_mb": "peak MB", "seeds": "seeds",
    "status": "status",
}  # fmt: skip
PERCENT = tuple(key for key, label in LEADERBOARD.items() if "%" in label)  # accuracies in [0, 1]


def _cell(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text or None


def read_leaderboard(folder: Path) -> list[dict[str, Any]] | None:
    """The rows of ``folder/leaderboard.csv`` (a ``selfsup compare`` output), typed; None if absent."""
    path = folder / "leaderboard.csv"
    if (folder / "config.yaml").is_file() or not path.is_file():
        return None
    with path.open(newline="") as f:
        return [{k: _cell(v or "") for k, v in row.items()} for row in csv.DictReader(f)]


def _leaderboard(rows: Sequence[dict[str, Any]]) -> str:
    """Trained methods ranked by validation kNN (as ``selfsup compare`` ranks them), reference rows last."""
    refs = [r for r in rows if str(r.get("method")).startswith(("raw pixels", "random init"))]
    trained = [r for r in rows if r not in refs]
    trained.sort(key=lambda r: -r["knn_val"] if isinstance(r.get("knn_val"), (int, float)) else 1.0)
    body = [[_leaderboard_cell(r, k) for k in LEADERBOARD] for r in trained + refs]
    note = "validation: carved from train; test: scored once; 1 % / 10 %: linear probes on label subsets"
    return table(list(LEADERBOARD.values()), body) + f'<p class="muted">{note}</p>'


def _leaderboard_cell(row: dict[str, Any], key: str) -> str:
    """One cell; an accuracy over several seeds shows its mean ± std."""
    std = row.get(f"{key}_std")
    spread = f" ± {fmt(std, pct=True)}" if key in PERCENT and isinstance(std, (int, float)) else ""
    return fmt(row.get(key), pct=key in PERCENT) + spread


def _quality_rows(run: RunArtifacts, emb: RunEmbeddings | None) -> list[list[str]]:
    keys = [k for k in QUALITY_HELP if (emb and k in emb.quality) or (run.quality and k in run.quality)]
    return [
        [
            esc(k),
            fmt(emb.quality.get(k)) if emb else "—",
            fmt(emb.random_init_quality.get(k)) if emb else "—",
            fmt(run.quality.get(k)) if run.quality else "—",
            f'<span class="muted">{esc(QUALITY_HELP[k])}</span>',
        ]
        for k in keys
    ]


QUALITY_HEADER = ["signal", "encoder (test set)", "random init (test set)", "quality.json", "good values"]


def _label_efficiency(run: RunArtifacts) -> str:
    rows = run.label_efficiency or []
    fractions = sorted({float(r["fraction"]) for r in rows})
    keys = sorted({(str(r["encoder"]), str(r["protocol"])) for r in rows})
    acc = {(str(r["encoder"]), str(r["protocol"]), float(r["fraction"])): r["accuracy"] for r in rows}
    header = ["encoder", "protocol"] + [f"{f:.0%} labels" for f in fractions]
    body = [[esc(e), esc(p)] + [fmt(acc.get((e, p, f)), pct=True) for f in fractions] for e, p in keys]
    return table(header, body)


def _curves(runs: Sequence[RunArtifacts], labels: Sequence[str]) -> str:
    columns = sorted({c for r in runs for c in r.metrics})
    parts = []
    for group, cols in group_metrics(columns).items():
        charts = []
        for col in cols:
            series = [
                Series(lab, *r.metrics[col]) for r, lab in zip(runs, labels, strict=True) if col in r.metrics
            ]
            charts.append(line_chart_svg(series, col))
        parts.append(f'<h3>{esc(GROUP_TITLES[group])}</h3><div class="charts">{"".join(charts)}</div>')
    return "".join(parts) or '<p class="muted">no metrics.csv under logs/</p>'


def _monitor_summary(run: RunArtifacts) -> str:
    cols = group_metrics(list(run.metrics)).get("monitors", [])
    rows = []
    for col in cols:
        _, ys = run.metrics[col]
        last = ys[-1]
        shown = COLLAPSE_NAMES.get(int(last), fmt(last)) if col.endswith("collapse") else fmt(last)
        rows.append([esc(col), fmt(ys[0]), shown, fmt(min(ys)), fmt(max(ys))])
    if not rows:
        return ""
    return table(["monitor", "first", "last", "min", "max"], rows)


def _embedding_section(embs: Sequence[RunEmbeddings | None], errors: Sequence[str | None], names) -> str:
    parts = []
    for emb, err, name in zip(embs, errors, names, strict=True):
        if emb is None:
            parts.append(f'<p class="warn">{esc(name)}: no embedding plot ({esc(err or "disabled")})</p>')
            continue
        prec = (
            ""
            if emb.retrieval_precision is None
            else f", neighbour label precision {emb.retrieval_precision:.1%}"
        )
        parts.append(
            f"<figure>{img(emb.embedding_png, f'{emb.layout} embedding of {name}')}"
            f"<figcaption>{esc(name)}: {emb.layout.upper()} of {emb.num_points} test embeddings"
            "</figcaption></figure>"
            f"<figure>{img(emb.retrieval_png, f'retrieval grid of {name}')}<figcaption>{esc(name)}: "
            f"queries and top neighbours by cosine similarity{esc(prec)} (green frame: same label)"
            "</figcaption></figure>"
        )
    return "".join(parts)


def _images_section(run: RunArtifacts, prefix: str = "") -> str:
    parts, current = [], None
    for p in run.images:
        folder = p.parent.relative_to(run.path / "viz").as_posix()
        if folder != current:
            current = folder
            parts.append(f"<h3>{esc(prefix)}viz/{esc('' if folder == '.' else folder + '/')}</h3>")
        caption_file = p.with_suffix(".txt")
        caption = caption_file.read_text().strip() if caption_file.is_file() else p.name
        parts.append(
            f"<figure>{img(p.read_bytes(), p.name, mime(p))}<figcaption>{esc(caption)}</figcaption></figure>"
        )
    return "".join(parts)


def _summary(run: RunArtifacts) -> str:
    d = run.derived or {}
    spec = d.get("input") if isinstance(d.get("input"), dict) else {}
    data = spec.get("dataset") or (run.config.get("data") or {}).get("name", "?")
    size = f" at {spec['image_size']} px, {spec.get('channels')} channel(s)" if "image_size" in spec else ""
    steps = f", {d['total_steps']} steps, batch {d.get('global_batch')}" if "total_steps" in d else ""
    return f"{run.method} on {data}{size}, backbone {run.config.get('backbone', '?')}{steps}"


# ----------------------------------------------------------------------------- pages
def render_run(run: RunArtifacts, emb: RunEmbeddings | None = None, emb_error: str | None = None) -> str:
    """The HTML page of one run (``emb``: its embeddings, or ``None`` with the reason in ``emb_error``)."""
    sections = []
    if run.results:
        results = table(RESULTS_HEADER, _results_rows(run)) + _splits_note(run)
        sections.append(("results", "Evaluation", results))
    quality = _quality_rows(run, emb)
    if quality:
        sections.append(("quality", "Label-free quality signals", table(QUALITY_HEADER, quality)))
    if run.label_efficiency:
        sections.append(("label-efficiency", "Label efficiency (top-1 %)", _label_efficiency(run)))
    sections.append(("curves", "Training curves", _curves([run], [run.method])))
    monitors = _monitor_summary(run)
    if monitors:
        sections.append(("monitors", "Collapse monitors", monitors))
    sections.append(("embeddings", "Embeddings", _embedding_section([emb], [emb_error], [run.name])))
    if run.images:
        sections.append(("pictures", "Pictures (RUN/viz)", _images_section(run)))
    config = f"<pre>{esc(run.config_text)}</pre>"
    if run.derived:
        config += "<h3>derived.json</h3>" + table(
            ["value", ""], [[esc(k), fmt(v)] for k, v in run.derived.items()]
        )
    sections.append(("config", "Config", config))
    return page(f"selfsup run report: {run.name}", _summary(run), sections)


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def render_comparison(
    runs: Sequence[RunArtifacts],
    embs: Sequence[RunEmbeddings | None],
    errors: Sequence[str | None],
    leaderboard: Sequence[dict[str, Any]] | None = None,
) -> str:
    """One page comparing ``runs``: overlaid curves, results and signals side by side, config diff
    (``leaderboard``: the rows of a ``selfsup compare`` folder, shown first)."""
    labels = [f"{i + 1}: {r.method}" for i, r in enumerate(runs)]
    overview = table(
        ["#", "run", "summary"],
        [[esc(lab), esc(r.name), esc(_summary(r))] for lab, r in zip(labels, runs, strict=True)],
    )
    sections = [("leaderboard", "Leaderboard", _leaderboard(leaderboard))] if leaderboard is not None else []
    sections.append(("runs", "Runs", overview))
    rows = [row for r, lab in zip(runs, labels, strict=True) for row in _results_rows(r, prefix=f"[{lab}] ")]
    if rows:
        notes = "".join(_splits_note(r, f"[{lab}] ") for r, lab in zip(runs, labels, strict=True))
        sections.append(("results", "Evaluation", table(RESULTS_HEADER, rows) + notes))
    qrows = [
        [esc(lab), *row[:4]]
        for r, e, lab in zip(runs, embs, labels, strict=True)
        for row in _quality_rows(r, e)
    ]
    if qrows:
        sections.append(("quality", "Label-free quality signals", table(["run", *QUALITY_HEADER[:4]], qrows)))
    sections.append(("curves", "Training curves (overlaid)", _curves(runs, labels)))
    monitors = "".join(
        f"<h3>{esc(lab)}</h3>{m}" for r, lab in zip(runs, labels, strict=True) if (m := _monitor_summary(r))
    )
    if monitors:
        sections.append(("monitors", "Collapse monitors", monitors))
    sections.append(("embeddings", "Embeddings", _embedding_section(embs, errors, labels)))
    pictures = "".join(_images_section(r, prefix=f"[{lab}] ") for r, lab in zip(runs, labels, strict=True))
    if pictures:
        sections.append(("pictures", "Pictures (RUN/viz)", pictures))
    flat = [_flatten(r.config) for r in runs]
    keys = sorted({k for f in flat for k in f})
    differ = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flat}) > 1]
    diff = table(["key", *labels], [[esc(k), *(esc(str(f.get(k, "—"))) for f in flat)] for k in differ])
    full = "".join(
        f"<details><summary>{esc(lab)} config.yaml</summary><pre>{esc(r.config_text)}</pre></details>"
        for r, lab in zip(runs, labels, strict=True)
    )
    sections.append(("config", "Config differences", (diff if differ else "<p>identical configs</p>") + full))
    title = "selfsup compare" if leaderboard is not None else f"selfsup comparison of {len(runs)} runs"
    return page(title, ", ".join(r.name for r in runs), sections)


def _embeddings_or_reason(
    run: RunArtifacts, enabled: bool, **kw: Any
) -> tuple[RunEmbeddings | None, str | None]:
    if not enabled:
        return None, "disabled with --no-embeddings"
    try:
        return run_embeddings(run, **kw), None
    except (FileNotFoundError, ValueError, OSError, KeyError) as err:
        log.warning("%s: skipping the embedding plot: %s", run.name, err)
        return None, str(err)


def write_report(
    run_dirs: Sequence[str | Path],
    out: str | Path | None = None,
    embeddings: bool = True,
    max_items: int = 1000,
    layout: str = "auto",
) -> Path:
    """Write the report and return its path.

    One run: ``out`` defaults to ``RUN/report.html``. Several runs: one comparison page, ``out``
    defaults to ``report-comparison.html`` in the working directory. A ``selfsup compare`` folder: the
    comparison of its ``runs/*`` under its leaderboard, ``out`` defaults to ``FOLDER/report.html``.
    ``embeddings=False`` skips the encoder forward passes (no embedding plot, retrieval grid or
    computed quality signals).
    """
    if not run_dirs:
        raise ValueError("write_report needs at least one run directory")
    folder = Path(run_dirs[0])
    leaderboard = read_leaderboard(folder) if len(run_dirs) == 1 else None
    if leaderboard is not None:  # a compare folder: its runs, in leaderboard order
        names = [str(r["method"]) for r in leaderboard]
        run_dirs = [folder / "runs" / n for n in names if (folder / "runs" / n / "config.yaml").is_file()]
    runs = [load_run(p) for p in run_dirs]
    results = [_embeddings_or_reason(r, embeddings, max_items=max_items, layout=layout) for r in runs]
    embs, errors = [e for e, _ in results], [m for _, m in results]
    if leaderboard is not None:
        text = render_comparison(runs, embs, errors, leaderboard)
        path = Path(out) if out else folder / "report.html"
    elif len(runs) == 1:
        text = render_run(runs[0], embs[0], errors[0])
        path = Path(out) if out else runs[0].path / "report.html"
    else:
        text = render_comparison(runs, embs, errors)
        path = Path(out) if out else Path("report-comparison.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
