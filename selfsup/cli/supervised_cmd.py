"""``selfsup train-supervised [--config FILE] [--resume CKPT] [key=value ...]``.

Trains the supervised baseline (method ``supervised``: the same backbones, a linear classifier and
cross-entropy on the labels) with the pretraining trainer, so it gets the same checkpoints, resume
and encoder export. ``method.num_classes`` is filled from the training set when not given. After
training it prints the classifier's top-1 accuracy on the test split and, unless ``--no-eval``, the
standard table (kNN / linear probe on the frozen features, with the raw-pixel and random-init
baselines), so the numbers line up with those of ``selfsup pretrain``.

Wire it in ``cli/main.py`` with ``supervised_cmd.add_parser(sub)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-supervised",
        help="train a supervised baseline (same backbones, cross-entropy on labels)",
        description="Train the supervised baseline. Settings come from --config (YAML) and key=value "
        "overrides, e.g. train.time_budget_minutes=4 data.name=folder data.root=~/photos.",
    )
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    p.add_argument("--config", help="YAML config file (e.g. configs/supervised_fashion_mnist.yaml)")
    p.add_argument("--resume", help="continue from RUN/checkpoints/last.ckpt (exact resume)")
    p.add_argument("--no-eval", action="store_true", help="skip kNN / linear-probe evaluation")
    p.set_defaults(run=run)


def _with_num_classes(cfg):
    """``cfg`` with ``method.num_classes`` set from the training set (a clear error without labels)."""
    if cfg.method.num_classes is not None:
        return cfg
    from selfsup.data import create_dataset

    dataset = create_dataset(
        cfg.data.name, "train", root=cfg.data.root, image_size=cfg.data.image_size, strict=cfg.data.strict
    )
    if dataset.num_classes < 2:
        raise ValueError(
            f"dataset {cfg.data.name!r} has {dataset.num_classes} classes; supervised training needs "
            "labels (for a folder: one sub-folder per class, at least two)"
        )
    return dataclasses.replace(cfg, method=dataclasses.replace(cfg.method, num_classes=dataset.num_classes))


def classifier_accuracy(method, cfg, image_size: int) -> tuple[float, int]:
    """Top-1 of the trained classifier on the test split (``eval.max_test_items`` of it)."""
    from selfsup.data import create_dataset, dataset_to_tensors
    from selfsup.views import eval_transform

    test = create_dataset(cfg.data.name, "test", root=cfg.data.root, image_size=cfg.data.image_size)
    images, labels = dataset_to_tensors(test, cfg.eval.max_test_items)
    mean, std = method.normalization()
    device = next(method.parameters()).device
    x = eval_transform(images.to(device), image_size, mean, std)
    return method.float().accuracy(x, labels), int(labels.shape[0])


def run(args: argparse.Namespace) -> int:
    from selfsup.train.config_loader import load_run_config

    config = args.config
    if args.resume:
        from selfsup.train.run_dir import run_dir_of_checkpoint

        config = config or str(run_dir_of_checkpoint(args.resume) / "config.yaml")
    cfg = _with_num_classes(load_run_config(config, list(args.overrides), method="supervised"))

    from selfsup.train.pretrain import pretrain

    if getattr(args, "quiet", False):
        from selfsup.cli.main import quiet_third_party_output

        quiet_third_party_output()
    started = time.perf_counter()
    result = pretrain(cfg, resume=args.resume)
    seconds = time.perf_counter() - started
    print(f"run directory: {result.run_dir}")
    print(f"encoder: {result.encoder_path}")
    if result.global_rank != 0:
        return 0
    image_size = cfg.data.image_size or result.method.encoder.spec["kwargs"].get("image_size")
    if image_size is None:
        from selfsup.data import create_dataset

        image_size = create_dataset(cfg.data.name, "train", root=cfg.data.root).image_size[0]
    accuracy, n = classifier_accuracy(result.method, cfg, int(image_size))
    print(f"supervised classifier: top-1 {accuracy:.2%} on {n} {cfg.data.name} test images")
    (result.run_dir / "classifier.json").write_text(
        json.dumps({"test_top1": accuracy, "test_items": n, "steps": result.derived.total_steps}, indent=2)
    )
    if args.no_eval:
        return 0
    from selfsup.cli.pretrain_cmd import evaluate_run

    return evaluate_run(result.run_dir, cfg, result.method, result.derived, seconds)
