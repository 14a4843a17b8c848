"""``selfsup eval knn|linear|zeroshot|retrieval``: evaluate an exported encoder or a CLIP model.

- ``knn`` / ``linear``: ``--encoder RUN/encoder.safetensors --data NAME``.
- ``zeroshot``: ``--checkpoint RUN/checkpoints/last.ckpt --data NAME [--classes ...] [--templates ...]``
  (or ``--open-clip ARCH --checkpoint FILE`` for an open_clip model from a local file).
- ``retrieval``: the same model options, ``--data`` a caption dataset (``stamps_captions``, or
  ``captions --root FILE.csv|.tsv|.json``).
"""

from __future__ import annotations

import argparse

from selfsup.cli.encoder_input import add_input_arguments


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="evaluate an encoder (kNN, linear probe) or a CLIP model (zero-shot, retrieval)"
    )
    p.add_argument("protocol", choices=["knn", "linear", "zeroshot", "retrieval"], help="evaluation protocol")
    p.add_argument("--encoder", help="exported encoder (RUN/encoder.safetensors), for knn / linear")
    add_input_arguments(p)  # --data, --root, --image-size, --allow-input-mismatch: default as trained
    p.add_argument("--k", type=int, default=20, help="kNN neighbours (default 20, as DINO)")
    p.add_argument("--temperature", type=float, default=0.07, help="kNN temperature (default 0.07)")
    p.add_argument("--max-train", type=int, help="use only the first N train images")
    p.add_argument("--max-test", type=int, help="use only the first N test images")
    p.add_argument("--no-baselines", action="store_true", help="skip raw-pixel and random-init rows")
    clip = p.add_argument_group("zeroshot / retrieval")
    clip.add_argument(
        "--checkpoint", help="a clip run's RUN/checkpoints/last.ckpt, or the open_clip weights file"
    )
    clip.add_argument(
        "--open-clip", metavar="ARCH", help="open_clip architecture of --checkpoint (e.g. ViT-B-32)"
    )
    clip.add_argument(
        "--open-clip-config", help="JSON config of a custom open_clip architecture (file stem = ARCH)"
    )
    clip.add_argument(
        "--classes", help="class names: a file (one per line) or 'a|b|c' (default: the dataset's)"
    )
    clip.add_argument(
        "--templates", help="prompt templates with {}: a file (one per line) or 'a photo of a {}.|...'"
    )
    clip.add_argument("--split", default="test", help="dataset split to evaluate (default test)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.protocol in ("zeroshot", "retrieval"):
        from selfsup.cli import zeroshot_cmd

        return (
            zeroshot_cmd.run_zeroshot(args)
            if args.protocol == "zeroshot"
            else zeroshot_cmd.run_retrieval(args)
        )
    if not args.encoder:
        raise ValueError(f"`selfsup eval {args.protocol}` needs --encoder RUN/encoder.safetensors")
    from selfsup.cli.encoder_input import load_encoder_eval_data, resolve_encoder_input
    from selfsup.eval.protocol import format_table, standard_evaluation
    from selfsup.export import load_encoder, read_metadata

    inp = resolve_encoder_input(args, args.encoder)  # reads and checks the JSON before the weights
    encoder = load_encoder(args.encoder)
    data = load_encoder_eval_data(inp, args.max_train, args.max_test)
    rows = standard_evaluation(
        encoder,
        data,
        image_size=inp.image_size,
        mean=inp.spec.mean,
        std=inp.spec.std,
        k=args.k,
        temperature=args.temperature,
        linear=args.protocol == "linear",
        baselines=not args.no_baselines,
        name=read_metadata(args.encoder).get("method", "encoder"),
    )
    title = f"{args.protocol} evaluation of {args.encoder} on {inp.data} at {inp.image_size} px {inp.note}"
    print(format_table(rows, title.rstrip(), data.describe()))
    return 0
