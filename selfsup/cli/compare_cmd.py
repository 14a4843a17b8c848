"""``selfsup compare METHOD [METHOD ...] [key=value ...] --data NAME --budget 10m``: a leaderboard."""

from __future__ import annotations

import argparse

from selfsup.cli.common import add_overrides_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="pretrain several methods with the same budget and evaluate them alike",
        description="Pretrain each METHOD (shipped config <method>_<data>.yaml) with the same wall-clock budget "
        "(or step count), evaluate all with the same protocols, and write leaderboard.csv/.md to --out. "
        "Finished runs of the same settings are reused when the command is run again (use --retrain to start over).",
    )
    p.add_argument("methods", nargs="+", metavar="METHOD", help="method names, e.g. simclr moco mae rotation")
    add_overrides_argument(p, "config overrides applied to every method, e.g. train.batch_size=64")
    p.add_argument("--data", default="fashion_mnist", help="dataset name (see `selfsup list`)")
    p.add_argument("--root", help="dataset folder (for --data folder)")
    p.add_argument("--budget", help="training time per method, e.g. 10m, 90s, 1h")
    p.add_argument("--steps", type=int, help="optimizer steps per method (instead of --budget)")
    p.add_argument("--out", default="compare", help="output folder (default ./compare)")
    p.add_argument("--configs-dir", help="folder of <method>_<data>.yaml (default: the shipped configs)")
    p.add_argument("--max-train", type=int, help="evaluate on the first N train images")
    p.add_argument("--max-test", type=int, help="evaluate on the first N test images")
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="train each method at seeds 0..N-1; the table shows mean ± std (default 1)",
    )
    p.add_argument("--retrain", action="store_true", help="retrain methods that already have a finished run")
    p.add_argument("--set", nargs="*", default=[], help=argparse.SUPPRESS)  # old spelling of key=value
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from selfsup.eval.compare import compare, find_config, format_leaderboard, parse_budget
    from selfsup.train.config_loader import load_run_config

    # `compare simclr moco train.batch_size=64`: argparse gives METHOD the key=value words too.
    methods = [m for m in args.methods if "=" not in m]
    overrides = [*(m for m in args.methods if "=" in m), *args.overrides, *args.set]
    if (args.budget is None) == (args.steps is None):
        raise ValueError("give exactly one of --budget (e.g. 10m) or --steps N")
    data = [f"data.name={args.data}", *([f"data.root={args.root}"] if args.root else [])]
    for method in methods:  # an unknown key is one error line before any training, as in `pretrain`
        load_run_config(find_config(args.configs_dir, method, args.data), [*data, *overrides], method)
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
        seeds=args.seeds,
    )
    print(format_leaderboard(rows))
    print(f"leaderboard: {args.out}/leaderboard.csv, {args.out}/leaderboard.md")
    return 0 if all(r.status == "ok" for r in rows) else 1
