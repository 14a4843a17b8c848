"""``selfsup export --checkpoint RUN/checkpoints/last.ckpt [--out PATH] [--force]``: export its encoder.

The method is rebuilt at the run's recorded input (``selfsup.runs.load_run``) and the
export JSON carries that input, so evaluation of the exported encoder follows the run.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the encoder of a training checkpoint to safetensors + JSON")
    p.add_argument("--checkpoint", required=True, help="Lightning checkpoint (RUN/checkpoints/*.ckpt)")
    p.add_argument(
        "--out", help="output path, whole name kept: OUT.safetensors + OUT.json (default RUN/encoder)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing export at --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from selfsup.export import export_files
    from selfsup.runs import export_from_checkpoint, input_spec_of
    from selfsup.train.run_dir import run_dir_of_checkpoint

    target = Path(args.out) if args.out else run_dir_of_checkpoint(args.checkpoint) / "encoder"
    existing = [str(p) for p in export_files(target) if p.exists()]
    if existing and not args.force:
        raise ValueError(f"not overwriting the export {', '.join(existing)}; pass --force or another --out")
    out = export_from_checkpoint(Path(args.checkpoint), target)
    spec = input_spec_of(out)
    print(
        f"encoder exported: input {spec.image_size} px, {spec.channels} channel(s), trained on {spec.dataset}"
    )
    for path in export_files(out):
        if path.is_file():
            print(f"  {path}")
    return 0
