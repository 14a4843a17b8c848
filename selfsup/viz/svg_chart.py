"""Inline SVG line charts for the HTML run report: no scripts, no fonts, no network.

``line_chart_svg(series, title)`` draws one or more ``Series`` (x = step, y = metric value) on
shared axes with "nice" ticks (1, 2 or 5 times a power of ten; whole numbers written as integers), a
legend naming every series, and a ``<title>`` per line so hovering shows the series name and its last value. The
SVG carries no ``xmlns`` attribute: inside HTML5 the parser puts ``<svg>`` in the SVG namespace
by itself, and the page stays free of any ``http://`` string. Each line is a ``<polyline
class="series" data-series=NAME>``, which the report's tests and the browser test look for.

Long series are thinned to at most ``max_points`` evenly spaced points (the first and last are
always kept) so a page with dozens of charts stays small.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["PALETTE", "Series", "line_chart_svg", "nice_ticks"]

# Colour-blind-friendly palette (Okabe & Ito 2008), then matplotlib's tab10 for the rest.
PALETTE = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
    "#8c564b", "#7f7f7f",
)  # fmt: skip


@dataclass(frozen=True)
class Series:
    """One line: ``x`` and ``y`` of equal length (non-finite pairs are dropped when drawn)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """About ``target`` round tick values covering ``[lo, hi]`` (steps of 1, 2 or 5 x 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got [{lo}, {hi}]")
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(0.0 if abs(t) < step * 1e-9 else round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(ticks[-1] + step)
    return ticks


def format_tick(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e9:
        return str(int(v))  # steps 1000, 1500: not 1e+03, 1.5e+03
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


def y_grid(ticks: Sequence[float], py: Callable[[float], float], left: float, plot_width: float) -> list[str]:
    """SVG of horizontal grid lines at ``ticks`` with their labels left of the plot area."""
    parts = []
    for t in ticks:
        y = py(t)
        parts.append(f'<line x1="{left}" x2="{left + plot_width}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" class="tick">{format_tick(t)}</text>'
        )
    return parts


def _thin(x: list[float], y: list[float], max_points: int) -> tuple[list[float], list[float]]:
    if len(x) <= max_points:
        return x, y
    idx = sorted({round(i * (len(x) - 1) / (max_points - 1)) for i in range(max_points)})
    return [x[i] for i in idx], [y[i] for i in idx]


def line_chart_svg(
    series: Sequence[Series],
    title: str,
    x_label: str = "step",
    width: int = 420,
    height: int = 240,
    max_points: int = 600,
) -> str:
    """An inline ``<svg>`` element (a string) with every series drawn as a polyline."""
    clean = []
    for s in series:
        if len(s.x) != len(s.y):
            raise ValueError(f"series {s.label!r}: {len(s.x)} x values but {len(s.y)} y values")
        pairs = [
            (float(a), float(b))
            for a, b in zip(s.x, s.y, strict=True)
            if math.isfinite(a) and math.isfinite(b)
        ]
        if pairs:
            xs, ys = _thin([p[0] for p in pairs], [p[1] for p in pairs], max_points)
            clean.append((s.label, xs, ys))
    esc = html.escape
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{esc(title)}" data-metric="{esc(title)}">'
        f"<title>{esc(title)}</title>"
    )
    if not clean:
        return head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text></svg>'
    all_x = [v for _, xs, _ in clean for v in xs]
    all_y = [v for _, _, ys in clean for v in ys]
    xt, yt = nice_ticks(min(all_x), max(all_x)), nice_ticks(min(all_y), max(all_y))
    left, right, top, bottom = 52, 10, 22, 34
    legend_h = 14 * len(clean)  # every curve labelled, a lone one too
    pw, ph = width - left - right, height - top - bottom - legend_h

    def px(v: float) -> float:
        return left + (v - xt[0]) / (xt[-1] - xt[0]) * pw

    def py(v: float) -> float:
        return top + ph - (v - yt[0]) / (yt[-1] - yt[0]) * ph

    parts = [head, f'<text x="{width / 2}" y="14" text-anchor="middle" class="ct">{esc(title)}</text>']
    parts += y_grid(yt, py, left, pw)
    for t in xt:
        x = px(t)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" class="grid"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{top + ph + 12}" text-anchor="middle" class="tick">{format_tick(t)}</text>'
        )
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>')
    parts.append(
        f'<text x="{left + pw / 2}" y="{top + ph + 26}" text-anchor="middle" class="tick">{esc(x_label)}</text>'
    )
    for i, (label, xs, ys) in enumerate(clean):
        color = PALETTE[i % len(PALETTE)]
        tip = f"<title>{esc(label)}: last {format_tick(ys[-1])} at {x_label} {format_tick(xs[-1])}</title>"
        if len(xs) == 1:
            parts.append(
                f'<circle class="series" data-series="{esc(label)}" cx="{px(xs[0]):.1f}" '
                f'cy="{py(ys[0]):.1f}" r="3" fill="{color}">{tip}</circle>'
            )
        else:
            pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(xs, ys, strict=True))
            parts.append(
                f'<polyline class="series" data-series="{esc(label)}" points="{pts}" fill="none" '
                f'stroke="{color}" stroke-width="1.5">{tip}</polyline>'
            )
        ly = top + ph + 40 + 14 * i
        parts.append(f'<rect x="{left}" y="{ly - 8}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{left + 14}" y="{ly + 1}" class="tick legend">{esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
