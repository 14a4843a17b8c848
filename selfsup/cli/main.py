"""``selfsup`` command line: pretrain, evaluate, export, list."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from selfsup.cli.common import show_warning

EXAMPLES = """\
examples:
  selfsup pretrain simclr --config configs/simclr_fashion_mnist.yaml
  selfsup pretrain simclr --config configs/simclr_fashion_mnist.yaml train.epochs=1 optim.lr=0.5
  selfsup pretrain simclr --resume runs/simclr-fashion_mnist-20261122-120000/checkpoints/last.ckpt
  selfsup eval knn --encoder runs/RUN/encoder.safetensors --data fashion_mnist
  selfsup eval linear --encoder runs/RUN/encoder.safetensors --data folder --root ~/photos
  selfsup pretrain mae --config configs/mae_fashion_mnist.yaml
  selfsup eval finetune --encoder runs/RUN/encoder.safetensors --data fashion_mnist
  selfsup eval label-efficiency --encoder runs/RUN/encoder.safetensors --fractions 0.01 0.1 1.0
  selfsup eval quality --encoder runs/RUN/encoder.safetensors
  selfsup viz reconstruct --checkpoint runs/RUN/checkpoints/last.ckpt --images fashion_mnist
  selfsup export --checkpoint runs/RUN/checkpoints/last.ckpt --out my_encoder
  selfsup compare simclr moco mae rotation --data fashion_mnist --budget 10m
  selfsup pretrain supervised --config configs/supervised_fashion_mnist.yaml
  selfsup viz attention --checkpoint runs/SUP/checkpoints/last.ckpt --compare runs/DINO/encoder.safetensors --out attn
  selfsup report runs/RUN
  selfsup bench dino train.batch_size=64
  selfsup data make-video-demo --out demo_davis
  selfsup segment-video --davis-root demo_davis --method propagation --encoder runs/RUN/encoder.safetensors --out pred
  selfsup eval davis --predictions pred --davis-root demo_davis
  selfsup eval attention-masks --encoder runs/DINO/encoder.safetensors --compare runs/SUP/encoder.safetensors --figure attn.png
  selfsup list
"""


def build_parser() -> argparse.ArgumentParser:
    from selfsup.cli import (
        bench_cmd,
        compare_cmd,
        configs_cmd,
        data_cmd,
        eval_cmd,
        export_cmd,
        findings_cmd,
        list_cmd,
        pretrain_cmd,
        report_cmd,
        supervised_cmd,
        video_cmd,
        viz_cmd,
    )

    parser = argparse.ArgumentParser(
        prog="selfsup",
        description="Self-supervised pretraining and few-label evaluation of visual encoders.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    pretrain_cmd.add_parser(sub)
    supervised_cmd.add_parser(sub)
    eval_cmd.add_parser(sub)  # and its protocols' old spellings eval-finetune, ...
    export_cmd.add_parser(sub)
    viz_cmd.add_parser(sub)
    compare_cmd.add_parser(sub)
    findings_cmd.add_parser(sub)
    bench_cmd.add_parser(sub)
    data_cmd.add_parser(sub)
    video_cmd.add_parser(sub)
    report_cmd.add_parser(sub)
    list_cmd.add_parser(sub)
    configs_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # key=value overrides may follow options (`pretrain simclr --config F optim.lr=0.1`), which
    # argparse's positional nargs cannot express; collect them from the leftovers.
    args, extra = parser.parse_known_args(argv)
    unknown = [a for a in extra if "=" not in a or a.startswith("-")]
    if unknown or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    logging.getLogger("selfsup").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    args.quiet = not args.verbose
    warnings.showwarning = show_warning  # one line each, without the source line
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (FileNotFoundError, ValueError) as err:  # selfsup's ConfigError is a ValueError
        # Input errors: one clear line, no traceback (use -v for the traceback).
        if args.verbose:
            raise
        print(f"selfsup: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        from selfsup.train.step import NonFiniteLossError  # here, not above: `selfsup list` stays light

        # A diverged run is not a crash: the message names the step and the checkpoint that is kept.
        if args.verbose or not isinstance(err, NonFiniteLossError):
            raise
        print(f"selfsup: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
