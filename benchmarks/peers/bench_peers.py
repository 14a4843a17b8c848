"""selfsup against lightly 1.6, same machine, same module, same recipe: images/s, step time, memory, ratio.

For SimCLR, MoCo v2, DINO (multi-crop) and MAE, each shipped Fashion-MNIST config
(``configs/<method>_fashion_mnist.yaml``) is trained by

- **selfsup**: its trainer's step (batched views on the device, forward, backward, optimizer,
  EMA / queue / center hooks; ``peers_selfsup.py``) over its own uint8 loader, and
- **lightly**: lightly's documented pipeline (its transforms on PIL images in a DataLoader, its
  heads, losses, memory bank and momentum utilities; ``peers_lightly.py``) around the *same* backbone
  class, batch, image size and recipe, with 0 and 2 loader workers (its best counts),

each at fp32 and at selfsup's default precision (``train.precision=auto``, decided per method as a
run decides it: on CPUs with AVX512-BF16 the faster of fp32 / bf16 for that step, timed once and
cached; lightly gets the same autocast). Every trial is its own process, run one after
another from this one; the whole grid is repeated (default 3 times, interleaved) and the table
gives the median and the spread. Timings are only evidence on a quiet machine: the machine is
checked before the start and during every trial (``peers_busy.py``); when busy, the benchmark says
so and exits 2 without a ratio, unless ``--force-busy`` (smoke runs), which marks the table.

``--quality``: the same module trained by each pipeline for the same wall-clock budget, then kNN and
linear probe through ``selfsup.eval`` on the validation and test splits.

    benchmarks/peers/setup.sh                                  # once: benchmarks/peers/.venv
    benchmarks/peers/.venv/bin/python benchmarks/peers/bench_peers.py [--json out.json]
    benchmarks/peers/.venv/bin/python benchmarks/peers/bench_peers.py --quality --methods simclr
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from peers_busy import DEFAULT_THRESHOLD, BusyReport, TrialMonitor, check_start  # noqa: E402
from peers_table import format_profile, format_quality, format_speed, summarize_speed  # noqa: E402

METHODS = ("simclr", "moco", "dino", "mae")
PRECISIONS = ("fp32", "default")
EXIT_BUSY = 2


class BusyMachine(RuntimeError):
    """A trial saw other work on the cores; its timing is not evidence."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    p.add_argument("--repeats", type=int, default=3, help="times the whole grid is run (default 3)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per trial (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--lightly-workers", type=int, nargs="+", default=[0, 2], help="lightly loader workers")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads per trial (all cores)")
    p.add_argument(
        "--config-dir", default=str(ROOT / "configs"), help="where <method>_fashion_mnist.yaml live"
    )
    p.add_argument(
        "--override", action="append", default=[], metavar="KEY=VALUE",
        help="config override applied to both pipelines (repeatable; smoke runs: train.batch_size=16)",
    )  # fmt: skip
    p.add_argument(
        "--busy-threshold", type=float, default=DEFAULT_THRESHOLD, help="others' share of the cores"
    )
    p.add_argument("--busy-seconds", type=float, default=2.0, help="utilization window before the start")
    p.add_argument("--force-busy", action="store_true", help="run and print on a busy machine (smoke only)")
    p.add_argument(
        "--compile", action="store_true",
        help="also time selfsup with train.compile=true (a row of its own, against the same lightly trials)",
    )  # fmt: skip
    p.add_argument("--quality", action="store_true", help="equal-wall-clock quality instead of speed")
    p.add_argument(
        "--budget-seconds", type=float, default=480.0, help="quality: training budget (main job: 8 min)"
    )
    p.add_argument("--quality-lightly-workers", type=int, default=2, help="quality: lightly loader workers")
    p.add_argument("--eval-max-train", type=int, help="quality: evaluate on a prefix of train (smoke)")
    p.add_argument("--eval-max-test", type=int, help="quality: evaluate on a prefix of test (smoke)")
    p.add_argument("--trial-timeout", type=float, default=1800.0, help="seconds before a trial is killed")
    p.add_argument("--json", help="write every trial and the summary to this JSON file")
    return p.parse_args(argv)


def run_trial(spec: dict, args: argparse.Namespace) -> tuple[dict, BusyReport]:
    """Run one trial process; its JSON result and what others did on the cores meanwhile."""
    workers = "cfg" if spec.get("workers") is None else spec["workers"]  # selfsup: data.num_workers
    pipeline = spec["pipeline"] + ("+compile" if spec.get("compile") else "")
    where = f"{spec['method']}/{spec['precision']}/{pipeline}/w{workers}/r{spec.get('repeat', 0)}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with TrialMonitor(where, args.busy_threshold) as monitor:
        proc = subprocess.run(
            [sys.executable, str(HERE / "peers_trial.py"), json.dumps(spec)],
            capture_output=True, text=True, timeout=args.trial_timeout, env=env, cwd=str(HERE),
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"trial {where} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    report = monitor.report
    assert report is not None
    result["others_cpu_share"] = report.utilization
    return result, report


def base_spec(args: argparse.Namespace, method: str) -> dict:
    return {
        "method": method,
        "config": str(Path(args.config_dir) / f"{method}_fashion_mnist.yaml"),
        "overrides": list(args.override),
        "threads": args.threads,
    }


def speed_specs(args: argparse.Namespace) -> list[dict]:
    """The grid, repeat-major so a slow minute of the machine hits every row alike."""
    specs = []
    for repeat in range(args.repeats):
        for method in args.methods:
            for precision in args.precisions:
                common = {**base_spec(args, method), "kind": "speed", "precision": precision, "repeat": repeat,
                          "steps": args.steps, "warmup": args.warmup}  # fmt: skip
                specs.append({**common, "pipeline": "selfsup", "workers": None})
                if args.compile:
                    compiled = [*common["overrides"], "train.compile=true"]
                    specs.append({**common, "pipeline": "selfsup", "workers": None, "compile": True,
                                  "overrides": compiled})  # fmt: skip
                specs += [{**common, "pipeline": "lightly", "workers": w} for w in args.lightly_workers]
    return specs


def quality_specs(args: argparse.Namespace) -> list[dict]:
    specs = []
    for method in args.methods:
        common = {**base_spec(args, method), "kind": "quality", "precision": "default",
                  "budget_s": args.budget_seconds, "eval_max_train": args.eval_max_train,
                  "eval_max_test": args.eval_max_test}  # fmt: skip
        specs.append({**common, "pipeline": "selfsup", "workers": None})
        specs.append({**common, "pipeline": "lightly", "workers": args.quality_lightly_workers})
    return specs


def run_all(specs: list[dict], args: argparse.Namespace) -> tuple[list[dict], list[BusyReport]]:
    """Every trial in order; stops at the first busy one unless ``--force-busy``."""
    results, busy = [], []
    for i, spec in enumerate(specs, 1):
        result, report = run_trial(spec, args)
        tag = "BUSY " if report.busy else ""
        shown = result.get("images_per_second") or result.get("knn_test")
        print(f"[{i}/{len(specs)}] {tag}{report.where}: {shown:.4g}", file=sys.stderr, flush=True)
        results.append(result)
        if report.busy:
            busy.append(report)
            if not args.force_busy:
                raise BusyMachine(report.describe())
    return results, busy


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("lightly") is None:
        print(
            "lightly is not importable here: run benchmarks/peers/setup.sh once, then use "
            "benchmarks/peers/.venv/bin/python (lightly is never a dependency of selfsup)",
            file=sys.stderr,
        )
        return 1
    start = check_start(args.busy_seconds, args.busy_threshold)
    print(start.describe(), file=sys.stderr)
    if start.busy and not args.force_busy:
        print("machine busy: no timings taken (a ratio would be noise). Rerun on a quiet machine, or "
              "--force-busy for a smoke run.", file=sys.stderr)  # fmt: skip
        return EXIT_BUSY
    specs = quality_specs(args) if args.quality else speed_specs(args)
    try:
        results, busy = run_all(specs, args)
    except BusyMachine as err:
        print(f"machine became busy during a trial ({err}); no ratio printed. Rerun on a quiet machine.",
              file=sys.stderr)  # fmt: skip
        return EXIT_BUSY
    noisy = start.busy or bool(busy)
    if noisy:
        print("\nBUSY MACHINE (--force-busy): the numbers below are a smoke run, not evidence.\n")
    if args.quality:
        print(format_quality(results))
        summary: list[dict] = []
    else:
        summary = summarize_speed(results)
        print(format_speed(summary, ratios=not noisy))
        threads = results[0].get("threads") if results else None
        print(f"\n{args.steps} timed steps after {args.warmup} warm-up, {args.repeats} repeat(s), "
              f"{threads} torch thread(s) per trial; cells: median (min-max over repeats).")  # fmt: skip
        print("\nWhere each step goes (ms per step, median over repeats):\n")
        print(format_profile(summary))
    if args.json:
        record = {"busy": noisy, "start": start.describe(), "busy_trials": [b.describe() for b in busy],
                  "trials": results, "summary": summary, "argv": sys.argv[1:] if argv is None else argv}  # fmt: skip
        Path(args.json).write_text(json.dumps(record, indent=2, default=str))
    return EXIT_BUSY if noisy and not args.force_busy else 0


if __name__ == "__main__":
    sys.exit(main())
