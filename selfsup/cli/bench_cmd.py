"""``selfsup bench METHOD [--config FILE] [key=value ...]``: images/s, step time, memory, MFU."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup.cli.common import add_overrides_argument
from selfsup.configs import CONFIG_DIR


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="time the training step of a method: images/s, peak memory, FLOPs, MFU",
        description="Times the trainer's step (views on the device, forward, backward, optimizer, EMA/queue "
        "updates) for METHOD with the batch, backbone and precision of --config and key=value overrides, "
        "counts FLOPs per image with torch.utils.flop_counter and reports the share of the device's peak.",
    )
    p.add_argument("method", help="method name (see `selfsup list`)")
    add_overrides_argument(p)
    p.add_argument(
        "--config",
        help="YAML config file (default: configs/<method>_fashion_mnist.yaml, else the first "
        "configs/<method>_*.yaml, e.g. clip_stamps.yaml: a config whose data the method can train on)",
    )
    p.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument(
        "--peak-tflops", type=float, help="device peak for the MFU column (default: known/measured)"
    )
    p.add_argument(
        "--loader-batches", type=int, default=20, help="batches timed for the loader alone (0: skip)"
    )
    p.add_argument(
        "--profile", type=int, default=0, metavar="ROWS",
        help="also print the ROWS operators taking the most device time (torch.profiler, 3 steps)",
    )  # fmt: skip
    p.add_argument(
        "--phases", action="store_true",
        help="also time each phase of the step (views, forward, backward, update) in a separate pass",
    )  # fmt: skip
    p.add_argument("--json", help="also write the result as JSON to this file")
    p.set_defaults(run=run)


def default_config(method: str, configs: Path = CONFIG_DIR) -> str | None:
    """The shipped config of ``method`` to bench: its Fashion-MNIST one, else its first one (CLIP needs
    captions, video colorization frame pairs); None: the dataclass defaults."""
    preferred = configs / f"{method}_fashion_mnist.yaml"
    found = [preferred] if preferred.is_file() else sorted(configs.glob(f"{method}_*.yaml"))
    return str(found[0]) if found else None


def run(args: argparse.Namespace) -> int:
    import json

    from selfsup.bench import as_dict, bench, format_bench
    from selfsup.train.config_loader import load_run_config

    cfg = load_run_config(args.config or default_config(args.method), args.overrides, method=args.method)
    result = bench(
        cfg,
        args.steps,
        args.warmup,
        args.device,
        args.peak_tflops,
        args.loader_batches,
        args.profile,
        args.phases,
    )
    print(format_bench([result]))
    if args.json:
        Path(args.json).write_text(json.dumps(as_dict(result), indent=2))
    return 0
