"""``selfsup report RUN_DIR [RUN_DIR ...]``: a self-contained HTML page per run, or one comparison page.

One run writes ``RUN/report.html`` (or ``--out``); several runs write one comparison page
(``report-comparison.html`` or ``--out``): curves overlaid, results side by side, config diff.
See ``selfsup.viz.report``. Wire in ``cli/main.py`` with ``report_cmd.add_parser(sub)``.
"""

from __future__ import annotations

import argparse
import time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="static HTML report of a run (several runs: one comparison page)",
        description="Write a self-contained HTML report (inline SVG curves and PNG images, no network).",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders or a compare folder")
    p.add_argument("--out", help="output HTML file (default RUN/report.html, or report-comparison.html)")
    p.add_argument(
        "--no-embeddings",
        action="store_true",
        help="skip the encoder forward passes (embedding plot, retrieval grid, computed quality signals)",
    )
    p.add_argument("--max-items", type=int, default=1000, help="test images embedded per run (default 1000)")
    p.add_argument(
        "--layout",
        choices=("auto", "tsne", "umap"),
        default="auto",
        help="2-D layout (auto: UMAP if installed)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from selfsup.viz.report import write_report

    if args.max_items < 7:
        raise ValueError(f"--max-items must be >= 7 (query + 6 neighbours), got {args.max_items}")
    started = time.perf_counter()
    path = write_report(
        args.runs,
        out=args.out,
        embeddings=not args.no_embeddings,
        max_items=args.max_items,
        layout=args.layout,
    )
    kind = "report" if len(args.runs) == 1 else f"comparison of {len(args.runs)} runs"
    size_kib = path.stat().st_size / 1024
    print(f"wrote {path} ({kind}, {size_kib:.0f} KiB, {time.perf_counter() - started:.1f} s)")
    return 0
