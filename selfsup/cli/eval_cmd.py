"""``selfsup eval knn|linear --encoder PATH --data NAME``: evaluate any exported encoder."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate an exported encoder (kNN, linear probe)")
    p.add_argument("protocol", choices=["knn", "linear"], help="evaluation protocol")
    p.add_argument("--encoder", required=True, help="exported encoder (RUN/encoder.safetensors)")
    p.add_argument("--data", default="fashion_mnist", help="dataset name (see `selfsup list`)")
    p.add_argument("--root", help="dataset folder (default: the dataset's standard location)")
    p.add_argument("--image-size", type=int, help="resize images to this size (default: as trained)")
    p.add_argument("--k", type=int, default=20, help="kNN neighbours (default 20, as DINO)")
    p.add_argument("--temperature", type=float, default=0.07, help="kNN temperature (default 0.07)")
    p.add_argument("--max-train", type=int, help="use only the first N train images")
    p.add_argument("--max-test", type=int, help="use only the first N test images")
    p.add_argument("--no-baselines", action="store_true", help="skip raw-pixel and random-init rows")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from selfsup.eval.protocol import format_table, load_eval_data, standard_evaluation
    from selfsup.export import load_encoder, read_metadata

    encoder = load_encoder(args.encoder)
    meta = read_metadata(args.encoder)
    image_size = args.image_size or meta.get("image_size")
    data = load_eval_data(args.data, args.root, image_size, args.max_train, args.max_test)
    rows = standard_evaluation(
        encoder,
        data,
        image_size=image_size,
        mean=meta.get("mean"),
        std=meta.get("std"),
        k=args.k,
        temperature=args.temperature,
        linear=args.protocol == "linear",
        baselines=not args.no_baselines,
        name=meta.get("method", "encoder"),
    )
    print(format_table(rows, f"{args.protocol} evaluation of {args.encoder} on {args.data}"))
    return 0
