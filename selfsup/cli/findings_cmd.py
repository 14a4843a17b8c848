"""``selfsup findings [NAME ...] [--seeds 3] [--budget 1] [--quick] [--jobs 1] --out DIR``: the seminal claims, checked.

Runs small-scale versions of published SSL experiments (``selfsup.eval.findings``), reuses
finished runs, and writes ``DIR/findings.html`` and ``DIR/findings.json`` with a verdict per
finding. ``--list`` describes the findings without running anything.
"""

from __future__ import annotations

import argparse
import textwrap

from selfsup.cli.common import quiet_third_party_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "findings",
        help="reproduce the seminal claims of self-supervised learning, with error bars",
        description="Pretrain the pre-declared variants of each finding (Fashion-MNIST and the stamps; "
        "--quick: digits, half an epoch, one seed), evaluate them with the validation/test protocol, and write "
        "DIR/findings.html and DIR/findings.json with a verdict per finding: reproduced, not reproduced at "
        "this scale, or inconclusive (the spreads over seeds overlap). Finished runs are reused.",
    )
    p.add_argument(
        "names", nargs="*", metavar="NAME", help="findings to run, by name or number (default: all)"
    )
    p.add_argument("--list", action="store_true", help="describe the findings and exit")
    p.add_argument("--out", default="findings", help="output folder (default ./findings)")
    p.add_argument("--seeds", type=int, help="seeds per variant (default 3; --quick: 1)")
    p.add_argument("--budget", type=float, help="multiplier of every run's declared epochs (default 1.0)")
    p.add_argument(
        "--quick", action="store_true", help="pipeline check: digits, half an epoch per run, 1 seed"
    )
    p.add_argument(
        "--configs-dir",
        default=None,
        help="folder of <method>_<data>.yaml configs (default: the shipped ones)",
    )
    p.add_argument("--retrain", action="store_true", help="retrain runs that already finished")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="pretraining runs at a time, each with its share of the cores (default 1; small models "
        "can train faster as several one-thread jobs: BENCHMARKS.md §20.8)",
    )
    p.set_defaults(run=run)


def describe(findings) -> str:
    """The ``--list`` text: per finding its claim, paper, experiment, runs and status."""
    blocks = []
    for f in findings:
        wrap = textwrap.TextWrapper(width=100, initial_indent="    ", subsequent_indent="    ")
        lines = [f"{f.name}  {f.title}", wrap.fill(f"claim: {f.claim}"), wrap.fill(f"paper: {f.paper}")]
        if f.available:
            lines.append(
                wrap.fill(
                    f"experiment ({f.data}, {f.epochs:g} epoch{'' if f.epochs == 1 else 's'} per run): {f.experiment}"
                )
            )
            lines.append(wrap.fill(f"variants: {', '.join(v.name for v in f.variants)}"))
        else:
            lines.append(wrap.fill(f"not available yet: {f.reason}"))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def run(args: argparse.Namespace) -> int:
    from selfsup.eval.findings.catalog import select

    findings = select(args.names)
    if args.list:
        print(describe(findings))
        return 0
    from selfsup.eval.findings.pretraining import threads_per_job
    from selfsup.eval.findings.runner import Scale, run_findings

    if getattr(args, "quiet", False):
        quiet_third_party_output()
    scale = Scale.make(args.seeds, args.budget, args.quick)
    threads_per_job(args.jobs)  # a bad --jobs fails here, before any run
    result = run_findings(
        findings, args.out, scale, configs_dir=args.configs_dir, retrain=args.retrain, jobs=args.jobs
    )
    width = max(len(f["title"]) for f in result["findings"])
    for f in result["findings"]:
        print(f"{f['title']:<{width}}  {f['verdict']}")
    print(f"findings: {args.out}/findings.html, {args.out}/findings.json ({result['seconds'] / 60:.1f} min)")
    failed = [
        r["status"]
        for f in result["findings"]
        for v in f["variants"]
        for r in v["runs"].values()
        if r["status"] != "ok"
    ]
    return 1 if failed else 0
