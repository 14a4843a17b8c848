"""``selfsup viz reconstruct --checkpoint CKPT --images SRC --mask-ratio 0.5 0.75 0.9``.

``--images`` is a dataset name (the first ``--num`` test images are used) or image files /
folders (read with PIL, converted to the model's channels and size). Wire it in ``cli/main.py``
with ``viz_cmd.add_parser(sub)``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("viz", help="visualizations (MAE reconstructions)")
    p.add_argument("kind", choices=["reconstruct"], help="what to draw")
    p.add_argument("--checkpoint", required=True, help="MAE training checkpoint (RUN/checkpoints/last.ckpt)")
    p.add_argument("--images", nargs="+", default=["fashion_mnist"], help="dataset name or image paths")
    p.add_argument("--num", type=int, default=8, help="images taken from a dataset (default 8)")
    p.add_argument("--mask-ratio", type=float, nargs="+", default=[0.75], help="one column group each")
    p.add_argument("--out", default="reconstructions.png", help="output PNG")
    p.add_argument("--scale", type=int, default=4, help="pixel upscaling of the PNG (default 4)")
    p.add_argument("--seed", type=int, default=0, help="masking seed")
    p.set_defaults(run=run)


def _load_images(sources: list[str], num: int, channels: int):
    import numpy as np
    import torch
    from PIL import Image

    from selfsup.data import create_dataset, dataset_to_tensors

    paths = [Path(s) for s in sources]
    if not any(p.exists() for p in paths):
        if len(sources) != 1:
            raise ValueError(f"--images: none of {sources} exists; give image files or one dataset name")
        images, _ = dataset_to_tensors(create_dataset(sources[0], "test"))
        return images[:num]
    files = [f for p in paths for f in (sorted(p.iterdir()) if p.is_dir() else [p]) if f.is_file()]
    mode = "L" if channels == 1 else "RGB"
    arrays = [np.asarray(Image.open(f).convert(mode).resize((64, 64))) for f in files[:num]]
    stacked = torch.from_numpy(np.stack(arrays))
    return stacked.unsqueeze(1) if channels == 1 else stacked.permute(0, 3, 1, 2)


def run(args: argparse.Namespace) -> int:
    from selfsup.viz.reconstruct import load_mae_checkpoint, reconstruction_grid, save_grid

    method = load_mae_checkpoint(args.checkpoint)
    images = _load_images(args.images, args.num, method.encoder.in_chans)
    grid = reconstruction_grid(method, images, args.mask_ratio, seed=args.seed)
    out = save_grid(grid, args.out, scale=args.scale)
    ratios = ", ".join(f"{r:g}" for r in args.mask_ratio)
    print(
        f"wrote {out}: {images.shape[0]} images; columns: original, then masked / reconstruction / "
        f"reconstruction+visible for mask ratios {ratios}"
    )
    return 0
