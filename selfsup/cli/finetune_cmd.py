"""``selfsup eval finetune --encoder PATH``: fine-tune an exported encoder end to end.

The options default to ``selfsup.eval.finetune.FinetuneConfig`` (MAE's recipe, scaled down).
"""

from __future__ import annotations

import argparse

from selfsup.cli.common import Default, SubCommand
from selfsup.cli.encoder_input import add_input_arguments

# FinetuneConfig fields that are options (--batch-size sets batch_size ...): type and help.
OPTIONS = {
    "epochs": (float, "fine-tuning epochs"),
    "batch_size": (int, "images per step"),
    "lr": (float, "base lr per 256 images (MAE's)"),
    "weight_decay": (float, "AdamW weight decay"),
    "layer_decay": (float, "layer-wise lr decay (1 = off)"),
    "drop_path": (float, "stochastic depth rate (MAE's), applied where the backbone has it (timm ViTs and "
                  "timm CNNs that take drop_path_rate); other backbones fine-tune without it"),
    "label_smoothing": (float, "label smoothing of the cross-entropy"),
    "warmup_epochs": (float, "linear lr warm-up"),
    "crop_scale": (float, "RandomResizedCrop area range, LOW HIGH"),
    "seed": (int, "seed of the head, the order and the augmentations"),
}  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--encoder",
        required=True,
        help="exported encoder (RUN/encoder.safetensors), run directory or RUN/checkpoints/*.ckpt",
    )
    add_input_arguments(p)  # --data, --root, --image-size, --allow-input-mismatch: default as trained
    for name, (kind, text) in OPTIONS.items():
        default = Default("selfsup.eval.finetune", "FinetuneConfig", name)
        shape = dict(nargs=2, metavar=("LOW", "HIGH")) if name == "crop_scale" else {}
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default,
                       help=f"{text} (default %(default)s)", **shape)  # fmt: skip
    p.add_argument("--max-train", type=int, help="use only the first N train images")
    p.add_argument("--max-test", type=int, help="use only the first N test images")
    p.add_argument(
        "--random-init", action="store_true", help="fine-tune the same architecture from random weights"
    )


def run(args: argparse.Namespace) -> int:
    from selfsup.cli.encoder_input import load_encoder_eval_data, resolve_encoder_input
    from selfsup.eval.baselines import random_init_copy
    from selfsup.eval.finetune import FinetuneConfig, classifier_accuracy, finetune
    from selfsup.runs import load_run

    inp = resolve_encoder_input(args, args.encoder)
    encoder = load_run(args.encoder).encoder
    if args.random_init:
        encoder = random_init_copy(encoder, seed=args.seed)
    data = load_encoder_eval_data(inp, args.max_train, args.max_test)
    cfg = FinetuneConfig(
        **{name: getattr(args, name) for name in OPTIONS} | {"crop_scale": tuple(args.crop_scale)}
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


COMMAND = SubCommand("fine-tune an exported encoder with a linear head", add_arguments, run)
