"""``selfsup eval attention-masks``: does a ViT's attention find objects? DINO's Jaccard, measured.

    selfsup eval attention-masks --encoder runs/DINO/encoder.safetensors --compare runs/SUP/encoder.safetensors
        [--data stamps_over_video | --data folder --root DIR] [--num 160] [--figure attention_masks.png]

Per model (``--encoder`` / ``--checkpoint`` and each ``--compare``: exported encoders, run directories
or training checkpoints), the last block's ``[CLS]`` attention of every head
(``selfsup.viz.attention``) on images with exact object masks, thresholded to keep 60 % of its mass
and scored by Jaccard with the objects (``selfsup.eval.attention_masks``: the official threshold and
Caron's Jaccard code). A random-init copy of the first model's architecture is scored too
(``--no-random-init`` drops it). Each model sees the images at the size it was trained at, in its
channels and normalization (its ``InputSpec``; another size or channel count needs
``--allow-input-mismatch``, ``selfsup.cli.encoder_input``'s rule). The images default to held-out
stamps over real video frames (``selfsup.data.stamps_over_video``); ``--data folder`` reads
``ROOT/images`` + ``ROOT/masks``. A CNN (no attention) and a dataset without masks are refused in
one line (exit code 2).

``COMMAND`` is the protocol that ``selfsup.cli.eval_cmd`` registers.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from selfsup.cli.common import SubCommand
from selfsup.cli.encoder_input import add_input_arguments

if TYPE_CHECKING:
    from selfsup.viz.encoder_source import VizEncoder

DEFAULT_NUM = 160  # about the whole stamps test split (161 stamps), each object once
FIGURE_IMAGES = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    from selfsup.eval.attention_masks import DINO_MASS

    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--encoder", help="exported encoder (RUN/encoder.safetensors) or run directory")
    source.add_argument("--checkpoint", help="training checkpoint (RUN/checkpoints/last.ckpt)")
    p.add_argument(
        "--compare", nargs="+", default=[], help="more encoders / runs / checkpoints, one row each"
    )
    add_input_arguments(p)  # --data, --root, --image-size, --allow-input-mismatch
    for action in p._actions:  # same options, but the images are a masked dataset, not the training one
        if action.dest == "data":
            action.help = "images with object masks: stamps_over_video (default) or folder"
        elif action.dest == "root":
            action.help = "stamps folder (stamps_over_video) or DIR with images/ and masks/ (folder)"
    p.add_argument("--num", type=int, default=DEFAULT_NUM, help=f"images scored (default {DEFAULT_NUM})")
    p.add_argument("--seed", type=int, default=0, help="image composition and random-init seed (default 0)")
    p.add_argument("--videos", nargs="+", help="background videos (default: vtest.avi / bikes.mp4)")
    p.add_argument(
        "--mass",
        type=float,
        default=DINO_MASS,
        help=f"attention mass each mask keeps (default {DINO_MASS}, DINO)",
    )
    p.add_argument("--no-random-init", action="store_true", help="skip the random-init row")
    p.add_argument("--figure", help="also write a labelled PNG: image, each head's map, the 60%% mask")
    p.add_argument(
        "--figure-images",
        type=int,
        default=FIGURE_IMAGES,
        help=f"images in the figure (default {FIGURE_IMAGES})",
    )
    p.add_argument("--json", help="also write the results as JSON here")
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")


def model_path(path: str) -> str:
    """A run directory's exported encoder (else its last checkpoint); any other path as given."""
    p = Path(path)
    if not p.is_dir():
        return path
    for candidate in (p / "encoder.safetensors", p / "checkpoints" / "last.ckpt"):
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(f"run directory {p} has neither encoder.safetensors nor checkpoints/last.ckpt")


def load_vit(path: str) -> VizEncoder:
    """The encoder at ``path`` with its input recipe; a backbone without class-token attention is refused."""
    from selfsup.viz.attention import is_vit
    from selfsup.viz.encoder_source import load_viz_encoder

    model = load_viz_encoder(model_path(path))
    if not is_vit(model.encoder):
        name = getattr(model.encoder, "spec", {}).get("name", type(model.encoder).__name__)
        raise ValueError(
            f"{path} is a {name} encoder without class-token attention; attention-masks scores a ViT's "
            "last-layer [CLS] attention, so pass a ViT encoder (e.g. backbone=timm:vit_small_patch16_224)"
        )
    return model


def _models(args: argparse.Namespace) -> list[tuple[VizEncoder, str]]:
    """``(model, source)`` per row: the encoders in order, then the random-init copy of the first."""
    from selfsup.eval.baselines import random_init_copy

    paths = [args.encoder or args.checkpoint, *args.compare]
    models = [load_vit(p) for p in paths]
    labels = [m.label for m in models]
    if len(set(labels)) < len(labels):  # two runs with one name: number the rows
        models = [replace(m, label=f"{i + 1}: {m.label}") for i, m in enumerate(models)]
    rows = list(zip(models, paths, strict=True))
    if not args.no_random_init:
        first = models[0]
        arch = getattr(first.encoder, "spec", {}).get("name", "same architecture")
        clone = random_init_copy(first.encoder, seed=args.seed).eval()
        rows.append((replace(first, encoder=clone, label=f"random init ({arch})"), paths[0]))
    return rows


def run(args: argparse.Namespace) -> int:
    import json

    from selfsup.cli.encoder_input import EncoderInput, fit_channels
    from selfsup.data.object_masks import VOID_ID, load_masked_images, masked_dataset
    from selfsup.eval.attention_masks import dino_mass_mask, format_attention_table, score_attention
    from selfsup.runs import check_eval_input
    from selfsup.viz.attention_report import model_attention

    data = masked_dataset(args.data or "stamps_over_video")  # refuse a dataset without masks first
    if not 0.0 < args.mass <= 1.0:
        raise ValueError(f"--mass must be in (0, 1] (DINO keeps 0.6), got {args.mass}")
    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    rows = _models(args)
    by_size: dict[int, object] = {}
    results, drawn = [], []
    for model, source in rows:
        size = check_eval_input(model.spec, source, args.image_size, allow_mismatch=args.allow_input_mismatch)
        if size not in by_size:
            by_size[size] = load_masked_images(data, args.root, size, args.num, args.seed, args.videos)
        masked = by_size[size]
        inp = EncoderInput(model.spec, data, args.root, size, args.allow_input_mismatch, source)
        images = fit_channels(inp, masked.images)  # RGB into a grayscale model: an error unless allowed
        model = replace(model, spec=replace(model.spec, image_size=size))  # fed at the evaluated size
        att = model_attention(model, images, args.batch_size)
        result = score_attention(model.label, att.maps, masked.ids, args.mass)
        results.append(result)
        drawn.append((model, images, masked, att, result, size))
    sizes = ", ".join(f"{s} px" for s in by_size)
    as_trained = "" if args.image_size else " (each model's training size)"
    first = next(iter(by_size.values()))
    objects = (first.ids > 0) & (first.ids != VOID_ID)
    print(
        f"attention masks: {first.source}; {first.images.shape[0]} images at {sizes}{as_trained}; "
        f"each head's last-layer [CLS] attention thresholded to keep {args.mass:.0%} of its mass (DINO); "
        "Jaccard with the object mask in %, mean over images"
    )
    print(format_attention_table(results, args.mass))
    print(
        f"reference: a mask covering the whole image scores J {100 * float(objects.float().mean((1, 2)).mean()):.1f} "
        "(the mean object area): attention that finds objects scores well above it"
    )
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "data": data,
            "source": first.source,
            "mass": args.mass,
            "models": [r.to_dict() for r in results],
        }
        out.write_text(json.dumps(payload, indent=2))
        print(f"written: {out}")
    if args.figure:
        from selfsup.viz.attention_masks_png import MaskRow, save_attention_masks_figure

        fig_rows = []
        for i in range(min(args.figure_images, args.num)):
            for model, images, masked, att, result, _ in drawn:
                ids = masked.ids[i]
                fig_rows.append(
                    MaskRow(
                        label=f"{model.label}\nimage {i}",
                        image=images[i].float() / 255.0,
                        maps=att.maps[i],
                        masks=dino_mass_mask(att.maps[i], args.mass),
                        objects=(ids > 0) & (ids != VOID_ID),
                        jaccard=result.per_image_head[i],
                    )
                )
        title = (
            f"Last-layer [CLS] attention per head and its {args.mass:.0%}-mass mask vs the object "
            f"(J = Jaccard, %)\n{first.source}"
        )
        out = save_attention_masks_figure(fig_rows, args.figure, title=title, mass=args.mass)
        print(f"figure: {out}")
    return 0


COMMAND = SubCommand("Jaccard of ViT attention (60% mass, DINO) with object masks", add_arguments, run)
