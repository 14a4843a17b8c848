"""``selfsup export --checkpoint RUN/checkpoints/last.ckpt [--out PATH]``: encoder from a checkpoint.

The method is rebuilt at the run's recorded input (``selfsup.runs.load_checkpoint_run``) and the
export JSON carries that input, so evaluation of the exported encoder follows the run.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the encoder of a training checkpoint to safetensors + JSON")
    p.add_argument("--checkpoint", required=True, help="Lightning checkpoint (RUN/checkpoints/*.ckpt)")
    p.add_argument("--out", help="output path without suffix (default: RUN/encoder)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from selfsup.runs import input_spec_of
    from selfsup.train.checkpoint import export_from_checkpoint

    out = export_from_checkpoint(Path(args.checkpoint), Path(args.out) if args.out else None)
    spec = input_spec_of(out)
    print(
        f"encoder written to {out} (+ {out.with_suffix('.json').name}): input {spec.image_size} px, "
        f"{spec.channels} channel(s), trained on {spec.dataset}"
    )
    return 0
