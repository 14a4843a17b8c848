"""``findings.html``: the findings of ``selfsup findings`` as one self-contained page.

``render_findings_page(result)`` turns the ``findings.json`` document (``selfsup.eval.findings.
runner.assemble``) into HTML: a summary table (finding, verdict, key numbers), then per finding the
claim in one sentence, the paper, the experiment, each claim's verdict with the compared numbers
(mean ± std over seeds, test split), charts of the mean and the spread over seeds
(``selfsup.viz.findings_chart``), and the numbers of every variant on test and validation. Styles
are inline, charts are inline SVG, there are no scripts or external references (as
``selfsup.viz.report``), so the file opens anywhere offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from selfsup.train.atomic_io import atomic_write
from selfsup.viz.findings_chart import Point, errorbar_chart_svg
from selfsup.viz.html_blocks import CSS

__all__ = ["render_findings_page", "write_findings_page"]

esc = html.escape
VERDICT_CLASS = {
    "reproduced": "v-yes",
    "not reproduced at this scale": "v-no",
    "inconclusive": "v-maybe",
    "not available yet": "v-na",
}
EXTRA_CSS = (
    ".verdict{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}"
    ".v-yes{background:#c8e6c9;color:#1b5e20}.v-no{background:#ffcdd2;color:#b71c1c}"
    ".v-maybe{background:#fff3c4;color:#6d4c00}.v-na{background:#e0e0e0;color:#424242}"
    "svg .axis{font-size:11px;fill:#333}svg .legend{font-size:10px}p.claim{font-size:15px}"
)
_PERCENT_PREFIXES = (
    "knn",
    "linear",
    "finetune",
    "le_",
    "scratch_",
    "pseudo_label",
    "random_knn",
    "random_linear",
    "attention_",  # Jaccard of attention masks with the objects
    "random_attention_",
)


def is_percent(metric: str) -> bool:
    """Accuracies and Jaccards (fractions shown in %) as opposed to memory, entropies, ranks, step counts."""
    return metric.startswith(_PERCENT_PREFIXES) and metric not in ("finetune_steps",)


def _badge(verdict: str) -> str:
    return f'<span class="verdict {VERDICT_CLASS.get(verdict, "v-na")}">{esc(verdict)}</span>'


def _num(stat: dict | None, percent: bool) -> str:
    if not stat or stat.get("mean") is None:
        return "—"
    scale, unit = (100.0, "") if percent else (1.0, "")
    text = f"{scale * stat['mean']:.2f}"
    if stat.get("n", 0) > 1:
        text += f" ± {scale * stat['std']:.2f}"
    return text + unit


def _ref_metric(finding: dict, ref: str) -> str:
    """The metric a reference reads (a derived difference reads its first operand's metric)."""
    if "/" in ref:
        return ref.split("/", 1)[1]
    derived = finding.get("derived", {}).get(ref)
    return _ref_metric(finding, derived["a"]) if derived else ""


def _stat_of(finding: dict, ref: str | None) -> Point | None:
    if ref is None:
        return None
    if "/" in ref:
        variant, metric = ref.split("/", 1)
        for v in finding["variants"]:
            if (
                v["name"] == variant
                and metric in v["metrics"]
                and v["metrics"][metric].get("mean") is not None
            ):
                m = v["metrics"][metric]
                return Point(m["mean"], m["std"], tuple(x for x in m["values"] if x is not None))
        return None
    d = finding.get("derived", {}).get(ref)
    if not d or not d.get("stat"):
        return None
    return Point(d["stat"]["mean"], d["stat"]["std"], tuple(x for x in d["values"] if x is not None))


def _charts(finding: dict) -> str:
    charts = []
    for plot in finding.get("plots", []):
        k = 100.0 if plot["percent"] else 1.0
        series = []
        for label, refs in plot["series"]:
            pts = []
            for ref in refs:
                p = _stat_of(finding, ref)
                pts.append(
                    None if p is None else Point(k * p.mean, k * p.std, tuple(k * v for v in p.values))
                )
            series.append((label, pts))
        charts.append(
            errorbar_chart_svg(
                plot["x_ticks"],
                series,
                plot["title"],
                plot["x_label"],
                plot["y_label"],
                plot.get("connect", True),
            )
        )
    return f'<div class="charts">{"".join(charts)}</div>' if charts else ""


def _claims(finding: dict) -> str:
    parts = []
    for claim in finding["claims"]:
        rows = []
        for c in claim["comparisons"]:
            pct = is_percent(_ref_metric(finding, c["a"]))
            rel = {"greater": "&gt;", "less": "&lt;", "no_worse": "≥ (within spread)"}[c["relation"]]
            rows.append(
                f'<tr><td class="l">{esc(c["a"])}</td><td>{_num(c["a_stat"], pct)}</td><td>{rel}</td>'
                f'<td class="l">{esc(c["b"])}</td><td>{_num(c["b_stat"], pct)}</td>'
                f'<td class="l">{_badge(c["verdict"])} <span class="muted">{esc(c["reason"])}</span></td></tr>'
            )
        parts.append(
            f"<h3>{_badge(claim['verdict'])} {esc(claim['text'])}</h3>"
            "<table><tr><th>a</th><th>a: mean ± std</th><th>claim</th><th>b</th><th>b: mean ± std</th>"
            f"<th>verdict</th></tr>{''.join(rows)}</table>"
        )
    return "".join(parts)


def _columns(finding: dict) -> list[str]:
    wanted: list[str] = []
    refs = [r for p in finding.get("plots", []) for _, rs in p["series"] for r in rs if r]
    refs += [c[s] for cl in finding.get("claims", []) for c in cl["comparisons"] for s in ("a", "b")]
    for ref in refs:
        if "/" in ref:
            m = ref.split("/", 1)[1]
            wanted += [x for x in (m, f"{m}_val") if x not in wanted]
    present = {m for v in finding["variants"] for m in v["metrics"]}
    return [m for m in wanted if m in present]


def _numbers(finding: dict) -> str:
    cols = _columns(finding)
    head = "".join(
        f"<th>{esc(c.removesuffix('_val'))} ({'val' if c.endswith('_val') else 'test'})</th>" for c in cols
    )
    rows = []
    for v in finding["variants"]:
        failed = [f"seed {s}: {r['status']}" for s, r in v["runs"].items() if r["status"] != "ok"]
        cells = "".join(f"<td>{_num(v['metrics'].get(c), is_percent(c))}</td>" for c in cols)
        note = f'<span class="warn">{esc("; ".join(failed))}</span>' if failed else ""
        over = " ".join(v["overrides"]) or "as shipped"
        rows.append(
            f'<tr><td class="l">{esc(v["name"])}<span class="muted">{esc(v["config"])}: {esc(over)}</span>{note}</td>'
            f"{cells}</tr>"
        )
    derived = "".join(
        f'<tr><td class="l">{esc(name)}</td><td>{_num(d.get("stat"), True)}</td></tr>'
        for name, d in finding.get("derived", {}).items()
    )
    derived_table = (
        f"<h3>Derived (per-seed differences, percentage points)</h3><table>{derived}</table>"
        if derived
        else ""
    )
    return (
        "<h3>Numbers (top-1 and Jaccard in %, mean ± std over seeds; memory in MB, entropies in nats)</h3>"
        f'<div class="scroll"><table><tr><th>variant</th>{head}</tr>{"".join(rows)}</table></div>{derived_table}'
    )


def _finding_section(f: dict) -> str:
    meta = f'<p class="muted">{esc(f["paper"])}</p>'
    if not f["available"]:
        return f'<p class="claim">{esc(f["claim"])}</p>{meta}<p>{_badge(f["verdict"])} {esc(f["reason"])}</p>'
    epochs = f"{f['epochs']:g} epochs" if f.get("epochs") is not None else ""
    return (
        f'<p class="claim"><b>Claim.</b> {esc(f["claim"])}</p>{meta}'
        f"<p><b>Experiment</b> ({esc(f['data'])}, {epochs} per run). {esc(f['experiment'])}</p>"
        f'<p class="muted">Every run: {esc(" ".join(f.get("overrides") or []) or "the shipped configs")}'
        " plus its own overrides below; runs are equal-epoch (no time budget).</p>"
        f"<p><b>Verdict:</b> {_badge(f['verdict'])}</p>"
        f"{_claims(f)}{_charts(f)}{_numbers(f)}"
    )


def _summary(result: dict) -> str:
    rows = []
    for f in result["findings"]:
        nums = []
        for claim in f["claims"]:
            for c in claim["comparisons"][:2]:
                pct = is_percent(_ref_metric(f, c["a"]))
                nums.append(
                    f"{esc(c['a'])} {_num(c['a_stat'], pct)} vs {esc(c['b'])} {_num(c['b_stat'], pct)}"
                )
        rows.append(
            f'<tr><td class="l"><a href="#{esc(f["name"])}">{esc(f["title"])}</a></td>'
            f'<td class="l">{_badge(f["verdict"])}</td><td class="l">{"<br>".join(nums) or "—"}</td></tr>'
        )
    return (
        f"<table><tr><th>finding</th><th>verdict</th><th>key numbers (test)</th></tr>{''.join(rows)}</table>"
    )


def render_findings_page(result: dict[str, Any]) -> str:
    """The HTML page (a string) of a findings.json document."""
    scale = result["scale"]
    mode = (
        "quick (pipeline check: digits, half an epoch per run)"
        if scale["quick"]
        else f"budget x{scale['budget']:g}"
    )
    subtitle = (
        f"{len(result['findings'])} findings, {len(scale['seeds'])} seed(s) {scale['seeds']}, {mode}; "
        f"{result.get('seconds', 0) / 60:.1f} min"
    )
    rule = (
        "Verdict rule: each number is the mean ± sample std over seeds; a comparison is reproduced when "
        "the claimed side's mean ± std interval lies entirely beyond the other's, not reproduced at this "
        "scale when it lies entirely on the wrong side, inconclusive when the intervals overlap (always "
        "with one seed). A claim needs all its comparisons; a finding all its claims."
    )
    sections = [("summary", "Summary", f"{_summary(result)}<p class=\"muted\">{esc(rule)}</p>"
                 f"<p class=\"muted\">{esc(result['splits'])}</p>")]  # fmt: skip
    sections += [(f["name"], f["title"], _finding_section(f)) for f in result["findings"]]
    nav = "".join(
        f'<a href="#{esc(a)}">{esc(t.split(" ")[0] + " " + a if a != "summary" else t)}</a>'
        for a, t, _ in sections
    )
    body = "".join(f'<section id="{esc(a)}"><h2>{esc(t)}</h2>{b}</section>' for a, t, b in sections)
    title = "selfsup findings: seminal SSL claims at laptop scale"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{esc(title)}</title><style>{CSS}{EXTRA_CSS}</style></head>'
        f"<body><header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><nav>{nav}</nav>"
        f"<main>{body}</main></body></html>\n"
    )


def write_findings_page(result: dict[str, Any], path: str | Path) -> Path:
    """Write ``render_findings_page(result)`` to ``path`` atomically; returns the path."""
    page = render_findings_page(result).encode("utf-8")
    return atomic_write(path, lambda f: f.write(page))
