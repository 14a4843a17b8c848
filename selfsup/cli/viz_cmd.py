"""``selfsup viz KIND ...``: one small entry per kind of picture.

- ``selfsup viz reconstruct --checkpoint CKPT --images SRC --mask-ratio 0.5 0.75 0.9`` (MAE);
- ``selfsup viz attention --checkpoint CKPT --images SRC [--compare OTHER] --out DIR``: class-token
  attention per head of a ViT (an activation map for a CNN) and the 60 % mass masks, one PNG per
  image; ``--compare`` draws a second model in the same PNG.

``--images`` is a dataset name (the first ``--num`` test images are used) or image files / folders
(read with PIL, converted to the model's channels). A kind is a ``VizKind`` in ``KINDS``: its
options and its runner; add one with ``KINDS["name"] = VizKind(help, add_arguments, run)``. Wire the
command in ``cli/main.py`` with ``viz_cmd.add_parser(sub)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class VizKind:
    """One ``selfsup viz <kind>`` entry: help line, its own options, and the runner (returns exit code)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def add_image_arguments(p: argparse.ArgumentParser, default_num: int = 8) -> None:
    """``--images`` and ``--num``, shared by every kind that draws on input images."""
    p.add_argument("--images", nargs="+", default=["fashion_mnist"], help="dataset name or image paths")
    p.add_argument("--num", type=int, default=default_num, help=f"images taken (default {default_num})")


# ----------------------------------------------------------------------------- reconstruct (MAE)
def _reconstruct_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="MAE training checkpoint (RUN/checkpoints/last.ckpt)")
    add_image_arguments(p)
    p.add_argument("--mask-ratio", type=float, nargs="+", default=[0.75], help="one column group each")
    p.add_argument("--out", default="reconstructions.png", help="output PNG")
    p.add_argument("--scale", type=int, default=4, help="pixel upscaling of the PNG (default 4)")
    p.add_argument("--seed", type=int, default=0, help="masking seed")


def _reconstruct(args: argparse.Namespace) -> int:
    from selfsup.viz.reconstruct import load_mae_checkpoint, reconstruction_grid, save_grid

    method = load_mae_checkpoint(args.checkpoint)
    from selfsup.viz.image_source import load_images

    images = load_images(args.images, args.num, method.encoder.in_chans)
    grid = reconstruction_grid(method, images, args.mask_ratio, seed=args.seed)
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
    from selfsup.viz.image_source import load_images
    from selfsup.viz.inpaint import render_inpaint

    out = render_inpaint(
        args.checkpoint, load_images(args.images, args.num, 3), args.out, args.seed, args.scale
    )
    print(f"wrote {out}; columns: masked input, prediction, prediction pasted into the hole, truth")
    return 0


def _colorize(args: argparse.Namespace) -> int:
    from selfsup.viz.colorize import render_colorize
    from selfsup.viz.image_source import load_images

    out = render_colorize(args.checkpoint, load_images(args.images, args.num, 3), args.out, args.scale)
    print(f"wrote {out}; columns: grayscale input, predicted color, truth")
    return 0


KINDS: dict[str, VizKind] = {
    "reconstruct": VizKind(
        "MAE reconstructions at several mask ratios", _reconstruct_arguments, _reconstruct
    ),
    "attention": VizKind(
        "ViT class-token attention per head (CNN: activation map) and 60%-mass masks",
        _attention_arguments,
        _attention,
    ),
    "inpaint": VizKind(
        "context-encoder inpainting of masked images", _grid_arguments("inpainting"), _inpaint
    ),
    "colorize": VizKind(
        "colorization of grayscale images (Lab, annealed mean)", _grid_arguments("colorization"), _colorize
    ),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("viz", help="visualizations: " + ", ".join(KINDS))
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for name, kind in KINDS.items():
        kp = kinds.add_parser(name, help=kind.help, description=kind.help)
        kind.add_arguments(kp)
        kp.set_defaults(run=kind.run)
