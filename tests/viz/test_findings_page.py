"""findings.html: self-contained, a verdict and a chart with error bars per finding, splits named."""

import re
from pathlib import Path

import pytest
from findings_fixtures import synthetic_result

from selfsup.eval.findings.catalog import FINDINGS
from selfsup.viz.findings_chart import Point, errorbar_chart_svg
from selfsup.viz.findings_page import is_percent, render_findings_page, write_findings_page


def test_page_is_self_contained_and_shows_every_finding(tmp_path: Path) -> None:
    result = synthetic_result(tmp_path)
    page = render_findings_page(result)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert page.count("<section id=") == 1 + 8  # summary + 8 findings
    for f in result["findings"]:
        assert f'id="{f["name"]}"' in page and f["claim"][:40].replace("'", "&#x27;") in page
    n_plots = sum(len(f["plots"]) for f in result["findings"])
    assert page.count('<svg class="chart"') == n_plots
    assert "validation split" in page and "test split" in page
    assert "(val)" in page and "(test)" in page  # numbers table names the split of every column


def test_verdicts_on_the_page_follow_the_constructed_numbers(tmp_path: Path) -> None:
    result = synthetic_result(tmp_path)
    head = next(f for f in result["findings"] if f["name"] == "projection-head")
    # h = base + 0.02 vs z = base - 0.05 with seed spread 0.01: separated -> reproduced
    assert head["verdict"] == "reproduced"
    pretext = next(f for f in result["findings"] if f["name"] == "pretext-label-efficiency")
    # gain at 1 %: 0.69 - 0.48 = 0.21; at 100 %: 0.9 - 0.9 = 0 (zero spread) -> reproduced
    assert pretext["claims"][1]["verdict"] == "reproduced"
    page = render_findings_page(result)
    assert page.count('class="verdict v-yes"') >= 2


def test_chart_has_title_axis_labels_legend_and_error_bars() -> None:
    svg = errorbar_chart_svg(
        ["0.25", "0.75"],
        [("linear", [Point(70.0, 2.0, (68.0, 70.0, 72.0)), Point(80.0, 1.0, (79.0, 80.0, 81.0))]),
         ("fine-tune", [Point(85.0, 0.0, (85.0,)), None])],
        "MAE: top-1 vs ratio", "masking ratio", "test top-1 (%)",
    )  # fmt: skip
    assert svg.startswith('<svg class="chart"') and "<title>MAE: top-1 vs ratio</title>" in svg
    assert "masking ratio" in svg and "test top-1 (%)" in svg and 'class="axis"' in svg
    assert svg.count('class="errorbar"') == 2  # std > 0 at two points; the single-seed point has none
    assert svg.count('<polyline class="series"') == 1  # fine-tune has one point: no line
    assert len(re.findall(r'class="mean" data-series="fine-tune"', svg)) == 1
    assert ">linear</text>" in svg and ">fine-tune</text>" in svg  # legend
    with pytest.raises(ValueError, match="3 points for 2 x ticks"):
        errorbar_chart_svg(["a", "b"], [("s", [None] * 3)], "t", "x", "y")


def test_write_is_atomic_and_returns_the_path(tmp_path: Path) -> None:
    path = write_findings_page(synthetic_result(tmp_path, seeds=1), tmp_path / "findings.html")
    assert path.read_text().startswith("<!DOCTYPE html>") and not list(tmp_path.glob("*.tmp"))
    assert "1 seed(s)" in path.read_text() and "inconclusive" in path.read_text()


def _width(svg: str) -> float:
    """The ``width`` attribute of a chart's ``<svg>`` element."""
    return float(svg.split('width="', 1)[1].split('"', 1)[0])


def test_long_tick_labels_get_slots_wide_enough_not_to_overlap():
    ticks = ["both, EMA", "centering only", "copy every iteration", "copy every epoch"]
    svg = errorbar_chart_svg(ticks, [("kNN", [Point(0.5, 0.01, (0.5,))] * 4)], "t", "variant", "top-1")
    slot = (_width(svg) - 58 - 12) / len(ticks)
    assert slot >= 6.0 * len("copy every iteration") + 12  # the longest label and some space
    short = errorbar_chart_svg(["a", "b"], [("s", [Point(0.5, 0.0, (0.5,))] * 2)], "t", "x", "y")
    assert 'width="460"' in short  # short labels keep the compact default


def test_tables_show_in_percent_every_metric_that_a_plot_draws_in_percent() -> None:
    """A fraction drawn in % must not read 0.09 in the numbers tables (the attention Jaccards once did)."""
    for finding in FINDINGS:
        for plot in finding.plots:
            metrics = {ref.split("/", 1)[1] for _, refs in plot.series for ref in refs if ref and "/" in ref}
            for metric in metrics:
                assert is_percent(metric) == plot.percent, (finding.name, plot.title, metric)


def test_a_long_title_widens_the_chart_instead_of_being_cut_off() -> None:
    """Finding 6's title once lost its first and last letters outside the 460 px chart."""
    for finding in FINDINGS:
        for plot in finding.plots:
            point = [Point(0.5, 0.01, (0.5,))] * len(plot.x_ticks)
            svg = errorbar_chart_svg(plot.x_ticks, [("s", point)], plot.title, plot.x_label, plot.y_label)
            assert _width(svg) >= 7.2 * len(plot.title) + 20, plot.title
