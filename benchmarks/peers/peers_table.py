"""Summaries of peer trials: per (method, precision), selfsup against lightly's best loader setting.

Each repeat r gives selfsup's images/s ``s_r`` and lightly's at every worker count; lightly's best
of that repeat is ``l_r = max_w l_{r,w}`` (the loader setting a lightly user would keep), and the
repeat's ratio is ``s_r / l_r``. Cells show the median over repeats and, when there are several,
the spread (min-max). Peak RSS is the trial process's ``ru_maxrss``; loader workers are forked from
it and share its pages, so their peak is shown apart (``+w``), never added.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

SPEED_HEADER = (
    "| method | precision | selfsup img/s | selfsup step ms | selfsup peak RSS MB | lightly img/s (best) | "
    "lightly workers | lightly step ms | lightly peak RSS MB | ratio selfsup / lightly |"
)
SPEED_RULE = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"


def spread(values: list[float], digits: int = 0) -> str:
    """``median`` or ``median (min-max)`` of ``values``."""
    fmt = f"{{:.{digits}f}}"
    med = fmt.format(statistics.median(values))
    if len(values) < 2:
        return med
    return f"{med} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _label(trial: dict) -> str:
    if trial["pipeline"] == "selfsup":
        return "selfsup-compiled" if trial.get("compile") else "selfsup"
    return f"lightly-w{trial['workers']}"


def summarize_speed(trials: list[dict]) -> list[dict]:
    """One summary per (method, precision, selfsup variant): per-repeat selfsup, lightly-best and ratio
    values. The variants are selfsup as shipped and, where timed (``--compile``), with
    ``train.compile=true``; both are compared with the same repeat's lightly trials."""
    groups: dict[tuple[str, str], dict[int, dict]] = defaultdict(lambda: defaultdict(dict))
    for t in trials:
        groups[(t["method"], t["precision"])][t["repeat"]][_label(t)] = t
    rows = []
    for (method, precision), repeats in groups.items():
        for variant in ("selfsup", "selfsup-compiled"):
            row: dict = {
                "method": method, "precision": precision, "compiled": variant != "selfsup",
                "resolved_precision": None, "repeats": [],
            }  # fmt: skip
            for r in sorted(repeats):
                by = repeats[r]
                ours = by.get(variant)
                peers = [t for label, t in by.items() if label.startswith("lightly")]
                if ours is None or not peers:
                    continue
                best = max(peers, key=lambda t: t["images_per_second"])
                row["resolved_precision"] = ours.get("resolved_precision")
                row["repeats"].append(
                    {
                        "selfsup": ours,
                        "lightly_best": best,
                        "lightly_all": {t["workers"]: t["images_per_second"] for t in peers},
                        "ratio": ours["images_per_second"] / best["images_per_second"],
                    }
                )
            if row["repeats"]:
                rows.append(row)
    return rows


def _row_name(row: dict) -> str:
    return f"{row['method']} (train.compile)" if row.get("compiled") else row["method"]


def _precision_name(row: dict) -> str:
    return row["precision"] if row["precision"] == "fp32" else f"default ({row['resolved_precision']})"


def format_speed(rows: list[dict], ratios: bool) -> str:
    """The speed table; ``ratios=False`` blanks the ratio column (a busy machine: not evidence)."""
    lines = [SPEED_HEADER, SPEED_RULE]
    for row in rows:
        reps = row["repeats"]
        ours = [r["selfsup"] for r in reps]
        best = [r["lightly_best"] for r in reps]
        workers = sorted({t["workers"] for t in best})
        ratio = spread([r["ratio"] for r in reps], 2) + "x" if ratios else "refused (busy)"
        worker_rss = max(t["worker_peak_rss_mb"] for t in best)
        lightly_rss = spread([t["peak_rss_mb"] for t in best]) + (
            f" +w {worker_rss:.0f}" if worker_rss else ""
        )
        lines.append(
            f"| {_row_name(row)} | {_precision_name(row)} | {spread([t['images_per_second'] for t in ours])} | "
            f"{spread([t['step_ms'] for t in ours])} | {spread([t['peak_rss_mb'] for t in ours])} | "
            f"{spread([t['images_per_second'] for t in best])} | {'/'.join(map(str, workers))} | "
            f"{spread([t['step_ms'] for t in best])} | {lightly_rss} | {ratio} |"
        )
    return "\n".join(lines)


PROFILE_PHASES = ("loader", "views", "forward", "backward", "update")


def _median_phase(trials: list[dict], phase: str) -> float | None:
    values = [t["phase_ms"][phase] for t in trials if phase in t.get("phase_ms", {})]
    return statistics.median(values) if values else None


def format_profile(rows: list[dict]) -> str:
    """Where each pipeline's step goes (median ms per step over the repeats, the timed steps themselves):
    the loader's ``next()``, selfsup's batched views, forward (with the loss), backward, and update
    (optimizer, clipping, EMA / queue / center). ``compute`` = forward + backward + update, the model's
    own work; ``ceiling`` = lightly's step / selfsup's compute: the ratio selfsup would reach if its
    loader and views cost nothing, so a ratio target above it needs a faster model step, not a faster
    input path."""
    lines = [
        "| method | precision | pipeline | " + " | ".join(PROFILE_PHASES) + " | compute | step | ceiling |",
        "|---|---|---|" + "---:|" * (len(PROFILE_PHASES) + 3),
    ]
    for row in rows:
        ours = [r["selfsup"] for r in row["repeats"]]
        best = [r["lightly_best"] for r in row["repeats"]]
        lightly_step = statistics.median(t["step_ms"] for t in best)
        pipelines = [("selfsup (train.compile)" if row.get("compiled") else "selfsup", ours)]
        if not row.get("compiled"):  # the compiled row is timed against the same lightly trials: shown once
            pipelines.append(("lightly (best)", best))
        for name, trials in pipelines:
            ms = {p: _median_phase(trials, p) for p in PROFILE_PHASES}
            if all(v is None for v in ms.values()):
                continue
            compute = sum(ms[p] or 0.0 for p in ("forward", "backward", "update"))
            ceiling = f"{lightly_step / compute:.2f}x" if trials is ours and compute > 0 else ""
            cells = " | ".join("-" if v is None else f"{v:.1f}" for v in ms.values())
            step = statistics.median(t["step_ms"] for t in trials)
            lines.append(
                f"| {row['method']} | {_precision_name(row)} | {name} | {cells} | {compute:.1f} | {step:.1f} | "
                f"{ceiling} |"
            )
    return "\n".join(lines)


def format_quality(results: list[dict]) -> str:
    """Equal-wall-clock quality: steps each pipeline fit in the budget and its kNN / linear top-1 (%)."""

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}"

    lines = [
        "| method | pipeline | budget s | trained s | steps | kNN val | linear val | kNN test | linear test |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for q in results:
        name = q["pipeline"] if q["pipeline"] == "selfsup" else f"lightly (w={q['workers']})"
        lines.append(
            f"| {q['method']} | {name} | {q['budget_s']:.0f} | {q['train_seconds']:.0f} | {q['steps_done']} | "
            f"{pct(q['knn_val'])} | {pct(q['linear_val'])} | {pct(q['knn_test'])} | {pct(q['linear_test'])} |"
        )
    if results:
        lines.append(results[0]["eval_note"])
    return "\n".join(lines)
