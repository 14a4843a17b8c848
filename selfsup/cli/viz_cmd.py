"""``selfsup viz KIND ...``: one small entry per kind of picture.

- ``selfsup viz reconstruct --checkpoint CKPT --images SRC --mask-ratio 0.5 0.75 0.9`` (MAE);
- ``selfsup viz attention --checkpoint CKPT --images SRC [--compare OTHER] --out DIR``: class-token
  attention per head of a ViT (an activation map for a CNN) and the 60 % mass masks, one PNG per
  image; ``--compare`` draws a second model in the same PNG.

``--images`` defaults to the test split of the dataset the model was trained on (its ``InputSpec``);
it may name another dataset (its first ``--num`` test images) or image files / folders (read with
PIL in the model's channels). Images are fed at the model's training size and normalization; a
dataset with another channel count (grayscale for a colour model) is an error unless
``--allow-input-mismatch``. A kind is a ``SubCommand`` in ``KINDS``: its options and its runner;
add one with ``KINDS["name"] = SubCommand(help, add_arguments, run)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from selfsup.cli.common import SubCommand, add_subcommands
from selfsup.runs import ALLOW_MISMATCH_FLAG

if TYPE_CHECKING:
    from torch import Tensor

    from selfsup.types import InputSpec


def add_image_arguments(p: argparse.ArgumentParser, default_num: int = 8) -> None:
    """``--images``, ``--num`` and ``--allow-input-mismatch``, shared by every kind that draws on images."""
    p.add_argument(
        "--images",
        nargs="+",
        help="dataset name or image paths (default: the test split of the model's training dataset)",
    )
    p.add_argument("--num", type=int, default=default_num, help=f"images taken (default {default_num})")
    p.add_argument(
        ALLOW_MISMATCH_FLAG,
        dest="allow_input_mismatch",
        action="store_true",
        help="draw on a dataset with another channel count than the model's, converting it deliberately",
    )


# ----------------------------------------------------------------------------- reconstruct (MAE)
def _reconstruct_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="MAE training checkpoint (RUN/checkpoints/last.ckpt)")
    add_image_arguments(p)
    p.add_argument("--mask-ratio", type=float, nargs="+", default=[0.75], help="one column group each")
    p.add_argument("--out", default="reconstructions.png", help="output PNG")
    p.add_argument("--scale", type=int, default=4, help="pixel upscaling of the PNG (default 4)")
    p.add_argument("--seed", type=int, default=0, help="masking seed")


def _images(args: argparse.Namespace, spec: InputSpec) -> Tensor:
    """``--images`` (default: the model's own test images) in the model's channels, checked;
    prints where they came from."""
    from selfsup.viz.image_source import load_images

    source = load_images(args.images, args.num, spec)
    images = source.for_model(spec, args.checkpoint, args.allow_input_mismatch)
    print(f"images: {source.describe()}, fed at {spec.image_size} px as the model was trained")
    return images


def _reconstruct(args: argparse.Namespace) -> int:
    from selfsup.runs import load_run
    from selfsup.viz.reconstruct import reconstruction_grid, save_grid

    run = load_run(args.checkpoint, "mae", need_method=True)
    images = _images(args, run.spec)
    grid = reconstruction_grid(run.method, images, args.mask_ratio, seed=args.seed)
    out = save_grid(grid, args.out, scale=args.scale)
    ratios = ", ".join(f"{r:g}" for r in args.mask_ratio)
    print(
        f"wrote {out}: {images.shape[0]} images; columns: original, then masked / reconstruction / "
        f"reconstruction+visible for mask ratios {ratios}"
    )
    return 0


# ----------------------------------------------------------------------------- attention maps
def _attention_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        required=True,
        help="training checkpoint (RUN/checkpoints/last.ckpt) or exported encoder (RUN/encoder.safetensors)",
    )
    p.add_argument("--compare", help="a second checkpoint or encoder, drawn beside the first")
    add_image_arguments(p)
    p.add_argument("--mass", type=float, default=0.6, help="attention mass the masks keep (DINO: 0.6)")
    p.add_argument("--out", default="attention", help="output folder (one PNG per image)")


def _attention(args: argparse.Namespace) -> int:
    from selfsup.viz.attention_report import draw_attention

    paths, summary = draw_attention(
        [args.checkpoint] + ([args.compare] if args.compare else []),
        args.images,
        args.num,
        args.out,
        mass=args.mass,
        allow_mismatch=args.allow_input_mismatch,
    )
    print(f"wrote {len(paths)} PNGs to {args.out} (image | map per head | {args.mass:.0%}-mass masks)")
    for line in summary:
        print(line)
    return 0


# ----------------------------------------------------------------------------- inpainting, colorization
def _grid_arguments(kind: str) -> Callable[[argparse.ArgumentParser], None]:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--checkpoint", required=True, help=f"{kind} training checkpoint (RUN/checkpoints/last.ckpt)"
        )
        add_image_arguments(p)
        p.add_argument("--out", default=f"{kind}.png", help="output PNG")
        p.add_argument("--scale", type=int, default=4, help="pixel upscaling of the PNG (default 4)")
        p.add_argument("--seed", type=int, default=0, help="mask seed (inpainting)")

    return add


def _inpaint(args: argparse.Namespace) -> int:
    from selfsup.runs import load_run
    from selfsup.viz.inpaint import render_inpaint

    run = load_run(args.checkpoint, "inpainting", need_method=True)
    out = render_inpaint(run.method, _images(args, run.spec), args.out, args.seed, args.scale)
    print(f"wrote {out}; columns: masked input, prediction, prediction pasted into the hole, truth")
    return 0


def _colorize(args: argparse.Namespace) -> int:
    from selfsup.runs import load_run
    from selfsup.viz.colorize import render_colorize

    run = load_run(args.checkpoint, "colorization", need_method=True)
    out = render_colorize(run.method, _images(args, run.spec), args.out, args.scale)
    print(f"wrote {out}; columns: grayscale input, predicted color, truth")
    return 0


KINDS: dict[str, SubCommand] = {
    "reconstruct": SubCommand(
        "MAE reconstructions at several mask ratios", _reconstruct_arguments, _reconstruct
    ),
    "attention": SubCommand(
        "ViT class-token attention per head (CNN: activation map) and 60%-mass masks",
        _attention_arguments,
        _attention,
    ),
    "inpaint": SubCommand(
        "context-encoder inpainting of masked images", _grid_arguments("inpainting"), _inpaint
    ),
    "colorize": SubCommand(
        "colorization of grayscale images (Lab, annealed mean)", _grid_arguments("colorization"), _colorize
    ),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("viz", help="visualizations: " + ", ".join(KINDS))
    add_subcommands(p, "kind", KINDS)
