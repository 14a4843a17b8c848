"""The HTML building blocks of selfsup's self-contained pages (``selfsup report``, ``selfsup findings``):
one inline style sheet, escaped text, number cells, ``data:`` URI images, tables, sections and the page
frame. No scripts and no external references, so a page opens anywhere offline."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

esc = html.escape

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#cfd8dc}nav{padding:6px 24px;background:#eceff1;font-size:13px}
nav a{margin-right:14px;color:#37474f}main{padding:8px 24px 40px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:14px 0;padding:10px 16px}
h2{font-size:17px;margin:6px 0 10px}h3{font-size:14px;margin:12px 0 6px;color:#455a64}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #e0e0e0;padding:4px 10px;
text-align:right}th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}td.l{text-align:left}
.best{font-weight:700;color:#1b5e20}.charts{display:flex;flex-wrap:wrap;gap:10px}
svg.chart{background:#fff;border:1px solid #eee}svg .grid{stroke:#eee}svg .frame{fill:none;stroke:#bbb}
svg .tick{font-size:10px;fill:#555}svg .ct{font-size:12px;font-weight:600;fill:#333}
figure{display:inline-block;margin:6px 12px 6px 0;vertical-align:top}figure img{max-width:100%;
border:1px solid #eee}figcaption{font-size:12px;color:#555}pre{background:#f5f5f5;padding:8px;
overflow:auto;font-size:12px}.muted{color:#777}td span.muted{display:block;text-align:left}.warn{color:#b71c1c}
td:not(:first-child):not(.l){white-space:nowrap}.scroll{overflow-x:auto}
""".replace("\n", "")


def fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if pct:
            return f"{100 * v:.2f}"
        if float(v).is_integer() and abs(v) < 1e15:
            return str(int(v))  # steps, batch, dims: 12345, not 1.234e+04
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.1f}"
    return esc(str(v))


def img(data: bytes, alt: str, mime: str = "image/png") -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:{mime};base64,{b64}">'


def mime(path: Path) -> str:
    return "image/png" if path.suffix.lower() == ".png" else "image/jpeg"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>'


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in sections)
    body = "".join(section(a, t, b) for a, t, b in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{esc(title)}</title><style>{CSS}</style></head>'
        f"<body><header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><nav>{nav}</nav>"
        f"<main>{body}</main></body></html>\n"
    )
