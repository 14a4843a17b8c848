"""Video object segmentation commands.

- ``selfsup segment-video --davis-root DIR --method classifier|propagation|colorization|copy --out DIR``
  with ``--encoder`` (exported encoder or training checkpoint; classifier / propagation) or
  ``--checkpoint`` (a video-colorization weights file; colorization); writes DAVIS palette PNGs,
  scores them when every frame is annotated, and with ``--viz DIR`` draws strips and GIFs.
- ``selfsup eval-davis --predictions DIR --davis-root DIR``: the DAVIS 2017 J&F table.

Wiring in ``cli/main.py``: ``video_cmd.add_parser(sub)`` (both commands), and to accept the spelling
``selfsup eval davis ...`` route it as ``eval finetune`` is: ``if argv[:2] == ["eval", "davis"]:
argv = ["eval-davis", *argv[2:]]``.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    add_segment_parser(sub)
    add_davis_protocol(sub)


def add_davis_protocol(sub: argparse._SubParsersAction, name: str = "eval-davis") -> argparse.ArgumentParser:
    """Register the J&F evaluation as command ``name`` on ``sub``."""
    p = sub.add_parser(name, help="DAVIS 2017 semi-supervised J&F of predicted masks")
    p.add_argument("--predictions", required=True, help="folder with <seq>/<frame>.png palette masks")
    p.add_argument("--davis-root", required=True, help="DAVIS 2017 root (JPEGImages, Annotations, ImageSets)")
    p.add_argument("--split", default="val", help="ImageSets/2017/<split>.txt (default val)")
    p.set_defaults(run=run_eval_davis)
    return p


def run_eval_davis(args: argparse.Namespace) -> int:
    from selfsup.eval.davis import evaluate_davis, format_davis_table

    print(format_davis_table(evaluate_davis(args.davis_root, args.predictions, args.split), args.split))
    return 0


def add_segment_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from selfsup.eval.label_propagation import N_RECENT, RADIUS, TOPK
    from selfsup.eval.video_segmentation import METHODS

    p = sub.add_parser("segment-video", help="segment DAVIS sequences from the first frame's mask")
    p.add_argument("--davis-root", required=True, help="DAVIS 2017 root")
    p.add_argument("--method", choices=METHODS, default="propagation", help="default propagation")
    p.add_argument("--encoder", help="exported encoder or training checkpoint (classifier, propagation)")
    p.add_argument("--checkpoint", help="video-colorization weights file (method colorization)")
    p.add_argument("--out", required=True, help="predictions folder (<seq>/<frame>.png)")
    p.add_argument("--split", default="val")
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), help="feature input size")
    p.add_argument("--classifier", choices=["linear", "mlp"], default="linear", help="one-shot classifier")
    p.add_argument("--soft-labels", action="store_true", help="train the classifier on area fractions")
    p.add_argument("--temperature", type=float, help="propagation temperature (0.1 DINO; 1 colorization)")
    p.add_argument("--topk", type=int, default=TOPK, help=f"sources kept per patch (default {TOPK}, DINO)")
    p.add_argument("--radius", type=int, default=RADIUS, help=f"neighbourhood in patches (default {RADIUS})")
    p.add_argument(
        "--n-recent", type=int, default=N_RECENT, help=f"recent context frames (default {N_RECENT})"
    )
    p.add_argument("--viz", help="also write a PNG strip and GIF per sequence here")
    p.add_argument("--no-eval", action="store_true", help="skip the J&F table")
    p.set_defaults(run=run_segment)
    return p


def _features(args: argparse.Namespace):  # -> FeatureFn | None
    from selfsup.eval.video_segmentation import ColorizationFeatures, PatchFeatures

    size = tuple(args.input_size) if args.input_size else None
    if args.method == "copy":
        return None
    if args.method == "colorization":
        if not args.checkpoint:
            raise ValueError("--method colorization needs --checkpoint (a video-colorization weights file)")
        from selfsup.methods.video_colorization import load_colorization

        return ColorizationFeatures(load_colorization(args.checkpoint), size)
    if not args.encoder:
        raise ValueError(
            f"--method {args.method} needs --encoder (an exported encoder or training checkpoint)"
        )
    from selfsup.viz.encoder_source import load_viz_encoder

    enc = load_viz_encoder(args.encoder)
    return PatchFeatures(enc.encoder, enc.mean, enc.std, size)


def run_segment(args: argparse.Namespace) -> int:
    from selfsup.eval.video_segmentation import ClassifierConfig, segment_davis

    kwargs: dict = {}
    if args.method == "classifier":
        kwargs["classifier"] = ClassifierConfig(kind=args.classifier, soft=args.soft_labels)
    elif args.method in ("propagation", "colorization"):
        kwargs.update(
            temperature=args.temperature, topk=args.topk, radius=args.radius, n_recent=args.n_recent
        )
    names = segment_davis(args.davis_root, args.out, args.method, _features(args), args.split, **kwargs)
    print(f"wrote predictions for {len(names)} sequences to {args.out} ({args.method})")
    if args.viz:
        from selfsup.viz.video_masks import render_sequence

        for name in names:
            strip, gif = render_sequence(args.davis_root, name, args.viz, predictions=args.out)
            print(f"  {strip}  {gif}")
    if not args.no_eval:
        from selfsup.eval.davis import evaluate_davis, format_davis_table

        print(format_davis_table(evaluate_davis(args.davis_root, args.out, args.split, names), args.split))
    return 0
