"""Render findings.html in headless Chromium: no console errors, every chart drawn with its error bars.

Uses the DevTools harness of ``test_report_browser`` (same browser fixture, same problem checks,
whose negative control lives there). Skipped without Chromium (``scripts/install_browser.sh``).
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
from findings_fixtures import synthetic_result
from PIL import Image
from test_report_browser import CHROMIUM, _open, browser  # noqa: F401  (browser is a fixture)

from selfsup.viz.findings_page import write_findings_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed; run scripts/install_browser.sh"),
]

FACTS = """(() => [...document.querySelectorAll('svg.chart')].map(s => ({
  title: s.dataset.metric,
  lines: [...s.querySelectorAll('polyline.series')].map(p => p.getTotalLength()),
  means: s.querySelectorAll('circle.mean').length,
  bars: [...s.querySelectorAll('line.errorbar')].map(l => l.getBBox().height),
  width: s.getBoundingClientRect().width,
})))()"""


def test_findings_page_renders_without_errors_with_charts_and_error_bars(browser, tmp_path: Path) -> None:  # noqa: F811
    result = synthetic_result(tmp_path)
    page = write_findings_page(result, tmp_path / "findings.html")
    dt, facts = _open(browser, page.resolve().as_uri())
    assert dt.problems() == []
    charts = dt.call("Runtime.evaluate", expression=FACTS, returnByValue=True)["result"]["value"]
    expected = [p["title"] for f in result["findings"] for p in f["plots"]]
    assert [c["title"] for c in charts] == expected
    for c in charts:
        assert c["width"] > 100 and c["means"] >= 2, c
        assert c["bars"] and all(h > 0 for h in c["bars"]), c  # 3 seeds: a visible spread everywhere
        assert all(length > 10 for length in c["lines"]), c
    dt.call(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=facts["height"],
        deviceScaleFactor=1,
        mobile=False,
    )
    shot = tmp_path / "findings_screenshot.png"
    shot.write_bytes(base64.b64decode(dt.call("Page.captureScreenshot", format="png")["data"]))
    with Image.open(shot) as im:
        colours = im.convert("RGB").resize((64, 256)).getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50  # charts and badges, not a blank page
    if os.environ.get("SELFSUP_ARTIFACTS"):
        dest = Path(os.environ["SELFSUP_ARTIFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / "findings_screenshot.png")
