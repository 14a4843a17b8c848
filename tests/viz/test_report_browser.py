"""Render the report in headless Chromium: no console errors, images decoded, curves drawn.

Chromium is driven over the DevTools protocol with a minimal WebSocket client written on the
standard library (RFC 6455 framing), so no Playwright/Selenium is needed: the test listens for
``Runtime.consoleAPICalled`` (error/warning), ``Runtime.exceptionThrown`` and ``Log.entryAdded``
(failed resource loads, blocked requests), then asks the page for every ``<img>``'s decoded size
and every chart's polylines, and saves a full-page screenshot (``report_screenshot.png`` in the
test's tmp dir, copied to ``$SELFSUP_ARTIFACTS`` when set). Install the browser with
``scripts/install_browser.sh`` (Debian package ``chromium``); without it the test is skipped.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from report_fixtures import METRIC_COLUMNS, make_run

from selfsup.viz.report import write_report

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed; run scripts/install_browser.sh"),
]


class DevTools:
    """One page's DevTools WebSocket: ``call(method, **params)`` and the events seen so far."""

    def __init__(self, ws_url: str, timeout: float = 60.0) -> None:
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", ws_url)
        assert m, ws_url
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {m.group(3)} HTTP/1.1\r\nHost: {m.group(1)}:{m.group(2)}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.next_id, self.events = 0, []

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("DevTools socket closed")
            buf += chunk
        return buf

    def _recv_message(self) -> dict:
        payload = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            mask = self._recv_exact(4) if b1 & 0x80 else None
            data = self._recv_exact(n)
            if mask:
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
            if b0 & 0x0F in (0x8, 0x9, 0xA):  # close / ping / pong: not part of a message
                continue
            payload += data
            if b0 & 0x80:  # FIN
                return json.loads(payload)

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        msg = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        n = len(msg)
        header = bytes([0x81]) + (
            bytes([0x80 | n])
            if n < 126
            else bytes([0x80 | 126]) + struct.pack(">H", n)
            if n < 65536
            else bytes([0x80 | 127]) + struct.pack(">Q", n)
        )
        self.sock.sendall(header + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(msg)))
        while True:
            reply = self._recv_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event} within {timeout} s")
            self.events.append(self._recv_message())

    def problems(self) -> list[str]:
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in (
                "error",
                "warning",
                "assert",
            ):
                out.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif e.get("method") == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(f"log {p['entry']['level']}: {p['entry'].get('text')}")
        return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium with remote debugging on a free port; yields the HTTP endpoint."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            port = int(m.group(1)) if m else None
            if not line and proc.poll() is not None:
                break
        if port is None:
            pytest.fail("chromium did not report its DevTools port (is it runnable as this user?)")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _open(endpoint: str, url: str) -> tuple[DevTools, dict]:
    """Load ``url`` in a fresh tab; returns the connection and the page facts."""
    req = urllib.request.Request(f"{endpoint}/json/new?about:blank", method="PUT")
    target = json.loads(urllib.request.urlopen(req, timeout=30).read())
    dt = DevTools(target["webSocketDebuggerUrl"])
    for domain in ("Page", "Runtime", "Log"):
        dt.call(f"{domain}.enable")
    dt.call("Page.navigate", url=url)
    dt.wait_for("Page.loadEventFired")
    facts = dt.call(
        "Runtime.evaluate",
        returnByValue=True,
        awaitPromise=True,
        expression="""(async () => {
          const imgs = [...document.images];
          await Promise.all(imgs.map(i => i.decode().catch(() => null)));
          return {
            images: imgs.map(i => [i.alt, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]),
            charts: [...document.querySelectorAll('svg.chart')].map(s => [s.dataset.metric,
                     s.querySelectorAll('polyline.series').length,
                     s.querySelector('polyline.series') ? s.querySelector('polyline.series').getTotalLength() : 0]),
            height: document.documentElement.scrollHeight,
          };
        })()""",
    )["result"]["value"]
    return dt, facts


def test_report_renders_without_errors_and_shows_images_and_curves(browser, tmp_path: Path) -> None:
    started = time.perf_counter()
    run = make_run(tmp_path)
    page = write_report([run], out=tmp_path / "report.html", max_items=200)
    dt, facts = _open(browser, page.resolve().as_uri())
    assert dt.problems() == []
    # 2 RUN/viz pictures + embedding plot + retrieval grid, all decoded and laid out.
    assert len(facts["images"]) == 4
    for alt, w, h, shown in facts["images"]:
        assert w > 0 and h > 0 and shown > 0, alt
    charts = {m: (n, length) for m, n, length in facts["charts"]}
    assert set(charts) == set(METRIC_COLUMNS)
    assert all(n == 1 and length > 10 for n, length in charts.values()), charts
    dt.call(
        "Emulation.setDeviceMetricsOverride",
        width=1280,
        height=facts["height"],
        deviceScaleFactor=1,
        mobile=False,
    )
    shot = base64.b64decode(dt.call("Page.captureScreenshot", format="png")["data"])
    path = tmp_path / "report_screenshot.png"
    path.write_bytes(shot)
    with Image.open(path) as im:
        assert im.size == (1280, facts["height"])
        colours = im.convert("RGB").resize((64, 256)).getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50  # curves and pictures, not a blank page
    if os.environ.get("SELFSUP_ARTIFACTS"):
        dest = Path(os.environ["SELFSUP_ARTIFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest / "report_screenshot.png")
        shutil.copy(page, dest / "report.html")
    print(f"browser report test: {time.perf_counter() - started:.1f} s, screenshot {path}")


def test_the_harness_catches_console_errors_and_broken_images(browser, tmp_path: Path) -> None:
    # Negative control: the checks above would pass vacuously if errors were not reported.
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
        '<img alt="broken" src="missing.png"><script>console.error("boom")</script></body></html>'
    )
    dt, facts = _open(browser, bad.resolve().as_uri())
    problems = " ".join(dt.problems())
    assert "boom" in problems
    assert "missing.png" in problems or "ERR_FILE_NOT_FOUND" in problems
    assert facts["images"][0][1] == 0  # the broken image has no decoded width
