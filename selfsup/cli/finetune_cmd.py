"""``selfsup eval-finetune --encoder PATH``: fine-tune an exported encoder end to end.

Wiring: ``add_parser(sub)`` registers the ``eval-finetune`` sub-command (add
``finetune_cmd.add_parser(sub)`` in ``cli/main.py``); ``add_arguments(p)`` and ``run(args)`` can
equally back an ``eval finetune`` protocol.
"""

from __future__ import annotations

import argparse

from selfsup.cli.encoder_input import add_input_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder", required=True, help="exported encoder (RUN/encoder.safetensors)")
    add_input_arguments(p)  # --data, --root, --image-size, --allow-input-mismatch: default as trained
    p.add_argument("--epochs", type=float, default=10.0, help="fine-tuning epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4, help="base lr per 256 images (MAE: 5e-4)")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--layer-decay", type=float, default=0.75, help="layer-wise lr decay (1 = off)")
    p.add_argument(
        "--drop-path",
        type=float,
        default=0.1,
        help="stochastic depth rate (MAE: 0.1), applied where the backbone has it (timm ViTs and timm CNNs "
        "that take drop_path_rate); other backbones fine-tune without it",
    )
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--crop-scale", type=float, nargs=2, default=(0.08, 1.0), metavar=("LOW", "HIGH"))
    p.add_argument("--max-train", type=int, help="use only the first N train images")
    p.add_argument("--max-test", type=int, help="use only the first N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--random-init", action="store_true", help="fine-tune the same architecture from random weights"
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-finetune", help="fine-tune an exported encoder with a linear head")
    add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from selfsup.cli.encoder_input import load_encoder_eval_data, resolve_encoder_input
    from selfsup.eval.baselines import random_init_copy
    from selfsup.eval.finetune import FinetuneConfig, classifier_accuracy, finetune
    from selfsup.export import load_encoder

    inp = resolve_encoder_input(args, args.encoder)
    encoder = load_encoder(args.encoder)
    if args.random_init:
        encoder = random_init_copy(encoder, seed=args.seed)
    data = load_encoder_eval_data(inp, args.max_train, args.max_test)
    cfg = FinetuneConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        layer_decay=args.layer_decay,
        drop_path=args.drop_path,
        label_smoothing=args.label_smoothing,
        warmup_epochs=args.warmup_epochs,
        crop_scale=tuple(args.crop_scale),
        seed=args.seed,
    )
    # Fit on the train split minus its validation part, so a schedule can be chosen on validation;
    # the test split is scored once, by the same model.
    fit_idx, val_idx = data.validation
    norm = dict(image_size=inp.image_size, mean=inp.spec.mean, std=inp.spec.std)
    result = finetune(
        encoder,
        data.train_images[fit_idx],
        data.train_labels[fit_idx],
        data.train_images[val_idx],
        data.train_labels[val_idx],
        cfg,
        **norm,
        log=print,
    )
    test = classifier_accuracy(
        result.model,
        data.test_images,
        data.test_labels,
        inp.image_size,
        0.5 if inp.spec.mean is None else inp.spec.mean,
        0.5 if inp.spec.std is None else inp.spec.std,
        cfg.eval_batch_size,
    )
    which = "random init" if args.random_init else str(args.encoder)
    print(
        f"fine-tune ({which}) on {inp.data} at {inp.image_size} px: validation top-1 "
        f"{100 * result.test_accuracy:.2f}%, test top-1 {100 * test:.2f}% after {result.steps} steps "
        f"({result.seconds:.0f} s, drop path {result.drop_path:g}) {inp.note}".rstrip()
    )
    print(data.describe())
    return 0
