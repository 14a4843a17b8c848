"""Video object segmentation commands.

- ``selfsup segment-video --davis-root DIR --method classifier|propagation|colorization|copy --out DIR``
  with ``--encoder`` (exported encoder or training checkpoint; classifier / propagation) or
  ``--checkpoint`` (a video_colorization run or its checkpoint; colorization); writes DAVIS palette PNGs,
  scores them when every frame is annotated, and with ``--viz DIR`` draws strips and GIFs.
  ``--method propagation`` defaults to DINO's protocol (``eval_video_segmentation.py``; see
  ``selfsup.eval.video_segmentation``): short side 480, DINO's mean / std for encoders that record
  no normalization, temperature 0.1, top-k 5, neighbourhood 12, 7 recent frames.
- ``selfsup eval davis --predictions DIR --davis-root DIR``: the DAVIS 2017 J&F table, the
  davis2017-evaluation semi-supervised numbers (``selfsup.eval.davis``); ``DAVIS`` is that protocol.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfsup.cli.common import SubCommand

NORMALIZE = ("auto", "dino", "none")


def add_davis_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--predictions", required=True, help="folder with <seq>/<frame>.png palette masks (frames 1..T-2)"
    )
    p.add_argument("--davis-root", required=True, help="DAVIS 2017 root (JPEGImages, Annotations, ImageSets)")
    p.add_argument("--split", default="val", help="ImageSets/2017/<split>.txt (default %(default)s)")


def run_eval_davis(args: argparse.Namespace) -> int:
    from selfsup.eval.davis import evaluate_davis, format_davis_table

    print(format_davis_table(evaluate_davis(args.davis_root, args.predictions, args.split), args.split))
    return 0


DAVIS = SubCommand("DAVIS 2017 semi-supervised J&F of predicted masks", add_davis_arguments, run_eval_davis)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``selfsup segment-video``."""
    from selfsup.eval.label_propagation import N_RECENT, RADIUS, TOPK
    from selfsup.eval.video_segmentation import LABELS, METHODS, OUTPUTS, SHORT_SIDE

    p = sub.add_parser("segment-video", help="segment DAVIS sequences from the first frame's mask")
    p.add_argument("--davis-root", required=True, help="DAVIS 2017 root")
    p.add_argument("--method", choices=METHODS, default="propagation", help="default propagation")
    p.add_argument("--encoder", help="exported encoder or training checkpoint (classifier, propagation)")
    p.add_argument(
        "--checkpoint",
        help="video_colorization run directory or RUN/checkpoints/*.ckpt (method colorization)",
    )
    p.add_argument("--out", required=True, help="predictions folder (<seq>/<frame>.png)")
    p.add_argument("--split", default="val")
    p.add_argument(
        "--short-side",
        type=int,
        default=SHORT_SIDE,
        help=f"resize frames so the short side is this and the long side a multiple of 64 (default {SHORT_SIDE}, DINO)",
    )
    p.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="feature input size (overrides --short-side)",
    )
    p.add_argument(
        "--normalize",
        choices=NORMALIZE,
        default="auto",
        help="auto: the encoder's recorded mean/std, DINO's when it records none (default); dino; none",
    )
    p.add_argument(
        "--classifier",
        choices=["mlp", "linear"],
        default="mlp",
        help="one-shot classifier (default mlp, chosen on the validation demo)",
    )
    p.add_argument("--soft-labels", action="store_true", help="train the classifier on area fractions")
    p.add_argument("--temperature", type=float, help="propagation temperature (0.1 DINO; 1 colorization)")
    p.add_argument("--topk", type=int, default=TOPK, help=f"sources kept per patch (default {TOPK}, DINO)")
    p.add_argument(
        "--radius", type=int, default=RADIUS, help=f"neighbourhood in patches, 0 = none (default {RADIUS})"
    )
    p.add_argument(
        "--n-recent", type=int, default=N_RECENT, help=f"recent context frames (default {N_RECENT})"
    )
    p.add_argument(
        "--labels", choices=LABELS, help="first-frame patch labels (default nearest for propagation, DINO)"
    )
    p.add_argument(
        "--output", choices=OUTPUTS, help="label map -> ids (default dino for propagation: norm_mask)"
    )
    p.add_argument("--viz", help="also write a PNG strip and GIF per sequence here")
    p.add_argument("--no-eval", action="store_true", help="skip the J&F table")
    p.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip the baselines scored beside the encoder (its architecture at random init, copy frame 0)",
    )
    p.set_defaults(run=run_segment)
    return p


def resolve_normalization(
    metadata: dict[str, Any], mode: str = "auto"
) -> tuple[Sequence[float] | None, Sequence[float] | None]:
    """Mean / std the frames get: ``auto`` uses the encoder's recorded ones (an exported selfsup
    encoder always records them, ``null`` meaning raw [0, 1] pixels) and DINO's script values where
    the metadata has no ``mean`` / ``std`` at all (e.g. an official DINO checkpoint loaded through
    ``pretrained_path`` and exported); ``dino`` forces DINO's, ``none`` disables normalization."""
    from selfsup.eval.video_segmentation import DINO_MEAN, DINO_STD

    if mode not in NORMALIZE:
        raise ValueError(f"--normalize must be one of {NORMALIZE}, got {mode!r}")
    if mode == "none":
        return None, None
    if mode == "dino" or ("mean" not in metadata and "std" not in metadata):
        return DINO_MEAN, DINO_STD
    return metadata.get("mean"), metadata.get("std")


def load_patch_encoder(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """``(encoder, metadata)`` of a training checkpoint (``.ckpt``, metadata from its run) or an
    exported encoder (its JSON); unlike the visualizations, no image size is needed here."""
    from selfsup.runs import load_run

    run = load_run(path)
    return run.encoder, run.metadata


def _features(args: argparse.Namespace):  # -> FeatureFn | None
    from selfsup.eval.video_segmentation import ColorizationFeatures, PatchFeatures

    size = tuple(args.input_size) if args.input_size else None
    if args.method == "copy":
        return None
    if args.method == "colorization":
        if not args.checkpoint:
            raise ValueError("--method colorization needs --checkpoint (a video_colorization run)")
        from selfsup.runs import load_run

        method = load_run(args.checkpoint, "video_colorization", need_method=True).method
        return ColorizationFeatures(method, size)
    if not args.encoder:
        raise ValueError(
            f"--method {args.method} needs --encoder (an exported encoder or training checkpoint)"
        )
    encoder, metadata = load_patch_encoder(args.encoder)
    mean, std = resolve_normalization(metadata, args.normalize)
    return PatchFeatures(encoder, mean, std, size, args.short_side)


def _random_init(features: Any) -> Any:
    """The same feature function with its network re-initialized (``eval.baselines.random_init_copy``)."""
    from dataclasses import replace

    from selfsup.eval.baselines import random_init_copy
    from selfsup.eval.video_segmentation import PatchFeatures

    field = "encoder" if isinstance(features, PatchFeatures) else "model"
    return replace(features, **{field: random_init_copy(getattr(features, field), seed=0).eval()})


def run_segment(args: argparse.Namespace) -> int:
    """Segment with the encoder; unless ``--no-eval`` / ``--no-baselines``, also with its random-init copy
    and by copying frame 0 (into ``OUT/baselines/``), and print their J&F side by side."""
    from selfsup.eval.davis import evaluate_davis, format_davis_table, global_results
    from selfsup.eval.video_segmentation import ClassifierConfig, segment_davis

    kwargs: dict = {"labels": args.labels, "output": args.output}
    if args.method == "classifier":
        kwargs["classifier"] = ClassifierConfig(kind=args.classifier, soft=args.soft_labels)
    elif args.method in ("propagation", "colorization"):
        kwargs.update(
            temperature=args.temperature, topk=args.topk, radius=args.radius, n_recent=args.n_recent
        )
    out, features = Path(args.out), _features(args)
    names = segment_davis(
        args.davis_root,
        out,
        args.method,
        features,
        args.split,
        progress=f"segment-video ({args.method})",
        **kwargs,
    )
    print(f"wrote predictions for {len(names)} sequences to {out} ({args.method})")
    if args.viz:
        from selfsup.viz.video_masks import render_sequence

        for name in names:
            strip, gif = render_sequence(args.davis_root, name, args.viz, predictions=out)
            print(f"  {strip}  {gif}")
    if args.no_eval:
        return 0
    scores = evaluate_davis(args.davis_root, out, args.split, names)
    print(format_davis_table(scores, args.split))
    if args.no_baselines or features is None:
        return 0
    rows = [(f"{args.method}, {args.encoder or args.checkpoint}", scores)]
    for label, method, folder, feats in (
        (
            f"{args.method}, the same network at random init",
            args.method,
            "random_init",
            _random_init(features),
        ),
        ("copy frame 0 (no features)", "copy", "copy", None),
    ):
        segment_davis(
            args.davis_root,
            out / "baselines" / folder,
            method,
            feats,
            args.split,
            names,
            f"baseline: {folder}",
            **kwargs,
        )
        rows.append((label, evaluate_davis(args.davis_root, out / "baselines" / folder, args.split, names)))
    print(
        f"J&F on {args.davis_root} (its ImageSets/2017/{args.split}.txt: {len(names)} sequences, "
        f"{len(scores)} objects), with baselines:"
    )
    print("| predictions | J&F-Mean | J-Mean | F-Mean |\n|---|---:|---:|---:|")
    for label, row_scores in rows:
        row = global_results(row_scores)
        print(f"| {label} | {row['J&F-Mean']:.3f} | {row['J-Mean']:.3f} | {row['F-Mean']:.3f} |")
    return 0
