"""``selfsup compare METHOD [METHOD ...] --data NAME --budget 10m``: a leaderboard on your data."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="pretrain several methods with the same budget and evaluate them alike",
        description="Pretrain each METHOD (shipped config <method>_<data>.yaml) with the same wall-clock budget "
        "(or step count), evaluate all with the same protocols, and write leaderboard.csv/.md to --out. "
        "Finished runs are reused when the command is run again (use --retrain to start over).",
    )
    p.add_argument("methods", nargs="+", help="method names, e.g. simclr moco mae rotation")
    p.add_argument("--data", default="fashion_mnist", help="dataset name (see `selfsup list`)")
    p.add_argument("--root", help="dataset folder (for --data folder)")
    p.add_argument("--budget", help="training time per method, e.g. 10m, 90s, 1h")
    p.add_argument("--steps", type=int, help="optimizer steps per method (instead of --budget)")
    p.add_argument("--out", default="compare", help="output folder (default ./compare)")
    p.add_argument("--configs-dir", help="folder of <method>_<data>.yaml (default: the shipped configs)")
    p.add_argument("--max-train", type=int, help="evaluate on the first N train images")
    p.add_argument("--max-test", type=int, help="evaluate on the first N test images")
    p.add_argument("--retrain", action="store_true", help="retrain methods that already have a finished run")
    p.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="key=value",
                   help="config overrides applied to every method")  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from selfsup.eval.compare import compare, format_leaderboard, parse_budget

    # `compare simclr moco --steps 50 train.batch_size=64`: key=value words are overrides, not methods.
    methods = [m for m in args.methods if "=" not in m]
    overrides = [*args.overrides, *(m for m in args.methods if "=" in m)]
    if (args.budget is None) == (args.steps is None):
        raise ValueError("give exactly one of --budget (e.g. 10m) or --steps N")
    rows = compare(
        methods,
        data=args.data,
        out_dir=args.out,
        budget_minutes=parse_budget(args.budget) if args.budget else None,
        steps=args.steps,
        root=args.root,
        configs_dir=args.configs_dir,
        overrides=overrides,
        max_train=args.max_train,
        max_test=args.max_test,
        retrain=args.retrain,
    )
    print(format_leaderboard(rows))
    print(f"leaderboard: {args.out}/leaderboard.csv, {args.out}/leaderboard.md")
    return 0 if all(r.status == "ok" for r in rows) else 1
