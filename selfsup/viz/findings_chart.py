"""Inline SVG chart of means with ± std error bars over categories, for the findings page.

``errorbar_chart_svg(x_ticks, series, title, x_label, y_label)`` draws each series as markers at
the category positions (joined by a line when it has several points), a vertical error bar of
± one standard deviation over seeds at every point, the individual seeds as small dots, both axis
labels, a title and a legend. Like ``selfsup.viz.svg_chart`` (whose ticks and palette it uses) it
needs no scripts, fonts or network, carries no ``xmlns`` (HTML5 places ``<svg>`` in the SVG
namespace itself), and marks each line ``<polyline class="series" data-series=NAME>`` and each
bar ``<line class="errorbar">`` for the tests and the browser test.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from selfsup.viz.svg_chart import PALETTE, format_tick, nice_ticks, y_grid

__all__ = ["Point", "errorbar_chart_svg"]


@dataclass(frozen=True)
class Point:
    """Mean and std over seeds at one category, with the per-seed values (None: no value)."""

    mean: float
    std: float
    values: tuple[float, ...] = ()


TICK_CHAR_PX = 6.0  # mean advance of a 10 px sans-serif character (the ``.tick`` class), rounded up
TITLE_CHAR_PX = 7.2  # the same for the 12 px bold title (the ``.ct`` class)


def tick_slot_width(x_ticks: Sequence[str]) -> float:
    """Pixels per x tick so the longest label fits its slot with a little space on each side (>= 95)."""
    return max([95.0] + [TICK_CHAR_PX * len(t) + 12 for t in x_ticks])


def title_width(title: str) -> float:
    """Pixels the chart needs so its centred title is not cut off at either side."""
    return TITLE_CHAR_PX * len(title) + 20


def errorbar_chart_svg(
    x_ticks: Sequence[str],
    series: Sequence[tuple[str, Sequence[Point | None]]],
    title: str,
    x_label: str,
    y_label: str,
    connect: bool = True,
    width: int | None = None,
    height: int = 280,
) -> str:
    """An inline ``<svg class="chart">`` string; every series has one entry per x tick.

    ``connect``: join each series' points with a line (an ordered x axis); ``width`` defaults to
    room for the tick labels side by side and for the title (at least 460 px)."""
    width = width or max(460, 58 + 12 + tick_slot_width(x_ticks) * len(x_ticks), title_width(title))
    esc = html.escape
    for label, points in series:
        if len(points) != len(x_ticks):
            raise ValueError(f"series {label!r} has {len(points)} points for {len(x_ticks)} x ticks")
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{esc(title)}" data-metric="{esc(title)}"><title>{esc(title)}</title>'
    )
    ys = [
        y
        for _, pts in series
        for p in pts
        if p is not None
        for y in (p.mean - p.std, p.mean + p.std, *p.values)
        if math.isfinite(y)
    ]
    if not ys:
        return head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data yet</text></svg>'
    yt = nice_ticks(min(ys), max(ys))
    legend_rows = math.ceil(len(series) / 3)
    left, right, top, bottom = 58, 12, 24, 44 + 14 * legend_rows
    pw, ph = width - left - right, height - top - bottom
    slot = pw / max(1, len(x_ticks))

    def px(i: int, k: int) -> float:  # series k is nudged sideways so error bars do not hide each other
        return left + slot * (i + 0.5) + (k - (len(series) - 1) / 2) * min(8.0, slot / (2 * len(series)))

    def py(v: float) -> float:
        return top + ph - (v - yt[0]) / (yt[-1] - yt[0]) * ph

    parts = [head, f'<text x="{width / 2}" y="15" text-anchor="middle" class="ct">{esc(title)}</text>']
    parts += y_grid(yt, py, left, pw)
    for i, tick in enumerate(x_ticks):
        parts.append(
            f'<text x="{left + slot * (i + 0.5):.1f}" y="{top + ph + 13}" text-anchor="middle" '
            f'class="tick">{esc(tick)}</text>'
        )
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>')
    parts.append(
        f'<text x="{left + pw / 2}" y="{top + ph + 28}" text-anchor="middle" class="axis">{esc(x_label)}</text>'
    )
    cy = top + ph / 2
    parts.append(
        f'<text x="14" y="{cy:.1f}" text-anchor="middle" class="axis" transform="rotate(-90 14 {cy:.1f})">'
        f"{esc(y_label)}</text>"
    )
    for k, (label, pts) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        drawn = [(i, p) for i, p in enumerate(pts) if p is not None and math.isfinite(p.mean)]
        if connect and len(drawn) > 1:
            line = " ".join(f"{px(i, k):.1f},{py(p.mean):.1f}" for i, p in drawn)
            parts.append(
                f'<polyline class="series" data-series="{esc(label)}" points="{line}" fill="none" '
                f'stroke="{color}" stroke-width="1.5"/>'
            )
        for i, p in drawn:
            x = px(i, k)
            tip = f"<title>{esc(label)} at {esc(x_ticks[i])}: {format_tick(p.mean)} ± {format_tick(p.std)} (n={len(p.values)})</title>"
            if p.std > 0:
                lo, hi = py(p.mean - p.std), py(p.mean + p.std)
                parts.append(
                    f'<line class="errorbar" x1="{x:.1f}" x2="{x:.1f}" y1="{lo:.1f}" y2="{hi:.1f}" '
                    f'stroke="{color}" stroke-width="1.5"/>'
                )
                for y in (lo, hi):
                    parts.append(
                        f'<line x1="{x - 4:.1f}" x2="{x + 4:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}"/>'
                    )
            for v in p.values:
                if math.isfinite(v):
                    parts.append(
                        f'<circle cx="{x:.1f}" cy="{py(v):.1f}" r="1.6" fill="{color}" opacity="0.5"/>'
                    )
            parts.append(
                f'<circle class="mean" data-series="{esc(label)}" cx="{x:.1f}" cy="{py(p.mean):.1f}" r="3.5" '
                f'fill="{color}">{tip}</circle>'
            )
        lx = left + (k % 3) * (pw / 3)
        ly = top + ph + 42 + 14 * (k // 3)
        parts.append(f'<rect x="{lx:.1f}" y="{ly - 8}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{lx + 14:.1f}" y="{ly + 1}" class="tick legend">{esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
