"""``selfsup pretrain METHOD [--config FILE] [--resume CKPT] [key=value ...]``.

Pretrains, exports the encoder and (unless ``--no-eval``) prints the evaluation
table: raw-pixel kNN, random-init encoder and the pretrained encoder, on the
validation split carved from the training split and on the test split (scored
once, here); ``RUN/eval_splits.json`` records both. ``selfsup pretrain supervised`` trains the
supervised baseline (linear classifier, cross-entropy on the labels) the same way, with
``method.num_classes`` from the data, and first prints the classifier's test top-1.
``--with-supervised`` also trains that baseline beside a self-supervised run (same backbone, data,
batch, optimizer, seed and time budget, all labels; :func:`supervised_twin`) and adds its frozen
features as a row of the same table, so the table shows where self-supervision stands.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from selfsup.cli.common import add_overrides_argument, quiet_third_party_output


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain an encoder with a self-supervised method (supervised: the supervised baseline)",
        description="Pretrain METHOD (`selfsup pretrain supervised`: train the supervised baseline on the "
        "labels). Settings come from --config (YAML) and key=value overrides, e.g. optim.lr=0.5 "
        "train.epochs=2 data.name=folder data.root=~/photos.",
    )
    p.add_argument(
        "method", nargs="?", help="method name (see `selfsup list`), or supervised; optional with --resume"
    )
    add_arguments(p)
    p.set_defaults(run=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Everything but METHOD (``selfsup train-supervised`` shares these)."""
    add_overrides_argument(p)
    p.add_argument("--config", help="YAML config file (see configs/)")
    p.add_argument(
        "--resume",
        help="continue from RUN/checkpoints/last.ckpt (exact resume); key=value may change only the run's "
        "length (train.max_steps, train.epochs, train.time_budget_minutes), log/checkpoint intervals, "
        "progress output, data.num_workers and eval.*",
    )
    p.add_argument(
        "--run-dir",
        help="with --resume: the run directory to continue, for a checkpoint kept outside RUN/checkpoints/",
    )
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation after training")
    p.add_argument(
        "--with-supervised",
        action="store_true",
        help="also train the same backbone supervised (all labels, same budget) and add its row to the table",
    )


def run(args: argparse.Namespace) -> int:
    from selfsup.train.config_loader import load_run_config

    overrides, method = list(args.overrides), args.method
    if method is not None and "=" in method:  # `selfsup pretrain key=value` with --resume
        overrides.insert(0, method)
        method = None
    config = args.config
    run_dir = None
    if args.resume:
        from selfsup.train.resume import resume_run_dir

        run_dir = resume_run_dir(args.resume, args.run_dir)
        config = config or str(run_dir / "config.yaml")
    elif args.run_dir:
        raise ValueError("--run-dir names the run that --resume continues; pass --resume CKPT as well")
    elif method is None:
        raise ValueError("name a method, e.g. `selfsup pretrain simclr` (see `selfsup list`)")
    cfg = load_run_config(config, overrides, method=method)
    supervised = cfg.method_name == "supervised"
    if supervised:
        cfg = with_num_classes(cfg)

    from selfsup.train.pretrain import pretrain

    if getattr(args, "quiet", False):
        quiet_third_party_output()

    started = time.perf_counter()
    result = pretrain(cfg, resume=args.resume, run_dir=run_dir)
    seconds = time.perf_counter() - started
    print(f"run directory: {result.run_dir}")
    print(f"encoder: {result.encoder_path}")
    if result.global_rank != 0:
        return 0
    if supervised:
        report_classifier(result, cfg)
    others = []
    if getattr(args, "with_supervised", False) and not supervised:
        twin = supervised_twin(cfg, result.run_dir)
        print(f"training the supervised baseline {twin.train.run_name} (all labels, same budget) ...")
        baseline = pretrain(twin)
        report_classifier(baseline, twin)
        others.append(("supervised (all labels, same budget)", baseline.method))
    if args.no_eval:
        return 0
    return evaluate_run(result.run_dir, cfg, result.method, result.derived, seconds, others)


def supervised_twin(cfg, run_dir: Path):
    """The supervised baseline of ``cfg``'s run: the same backbone, data, batch, optimizer, seed and
    length (time budget, epochs or steps), trained on all labels with the shipped supervised recipe's
    augmentation (``configs/supervised_fashion_mnist.yaml``: crops of 0.8-1, flips; BENCHMARKS.md §16.7),
    written beside the run as ``RUN-supervised``."""
    import yaml

    from selfsup.configs import shipped_config
    from selfsup.train.config_loader import config_to_dict, run_config_from_dict

    tree = config_to_dict(cfg)
    tree["method"] = yaml.safe_load(shipped_config("supervised_fashion_mnist").read_text())["method"]
    tree["train"] |= {"out_dir": str(run_dir.parent), "run_name": f"{run_dir.name}-supervised"}
    return with_num_classes(run_config_from_dict(tree))


def evaluate_run(run_dir: Path, cfg, method, derived, train_seconds: float, others=()) -> int:
    """Print and save the evaluation table of the run's ``method`` (and one row per ``(name, method)``
    of ``others``, evaluated by the same protocol on the same splits)."""
    from selfsup.data.captions import CAPTION_DATASETS, labelled_dataset_of
    from selfsup.eval.protocol import (
        UnlabeledDataError,
        format_table,
        load_eval_data,
        rows_to_json,
        standard_evaluation,
    )
    from selfsup.train.train_stats import load_train_stats

    eval_name, eval_root = cfg.data.name, cfg.data.root
    if cfg.data.name.strip().lower().replace("-", "_") in CAPTION_DATASETS:
        # Image-text runs: zero-shot and retrieval (CLIP's own evaluation), then kNN / linear on the
        # labelled data behind the captions.
        from selfsup.cli.zeroshot_cmd import clip_report

        report = clip_report(method, cfg)
        print(report)
        (run_dir / "zeroshot.md").write_text(report + "\n")
        eval_name = labelled_dataset_of(cfg.data.name)
        eval_root = cfg.data.root if eval_name == "stamps" else None
        if eval_name is None:  # a caption file has no class labels
            return 0
    try:
        data = load_eval_data(
            eval_name,
            eval_root,
            cfg.data.image_size,
            cfg.eval.max_train_items,
            cfg.eval.max_test_items,
        )
    except UnlabeledDataError as e:
        print(f"no evaluation table: {e} (evaluate the encoder with `selfsup eval ...` on labelled data)")
        return 0
    rows = []
    # The run's row (with the raw-pixel / random-init baselines), then one row per other method.
    for name, m, baselines in [
        (cfg.method_name, method, cfg.eval.baselines),
        *((n, o, False) for n, o in others),
    ]:
        mean, std = m.normalization()
        rows += standard_evaluation(
            m.encoder.float(), data, image_size=cfg.data.image_size, mean=mean, std=std,
            k=cfg.eval.knn_k, temperature=cfg.eval.knn_temperature, linear=cfg.eval.linear,
            baselines=baselines, name=name,
        )  # fmt: skip
    stats = load_train_stats(run_dir)  # the fit's own time; train_seconds adds calibration and set-up
    minutes = f"{train_seconds / 60:.1f} min"
    if stats is not None:
        minutes = f"{stats['fit_seconds'] / 60:.1f} min training, {minutes} in all"
    title = (
        f"{cfg.method_name} on {cfg.data.name} after {derived.total_steps} steps "
        f"({derived.total_steps / derived.steps_per_epoch:.2f} epochs, batch {derived.global_batch}, "
        f"{minutes}): top-1 (kNN k={cfg.eval.knn_k}, T={cfg.eval.knn_temperature}; "
        "linear probe on frozen features, weight decay chosen on validation)"
    )
    splits = data.describe()
    # Supervised rows trained on every training label, the validation images' included.
    labelled = [name for name, _ in others] + ([cfg.method_name] if cfg.method_name == "supervised" else [])
    if labelled:
        splits += f"; not held out: the validation columns of {', '.join(labelled)}"
    table = format_table(rows, title, splits)
    print(table)
    (run_dir / "results.json").write_text(json.dumps(rows_to_json(rows), indent=2))
    (run_dir / "eval_splits.json").write_text(json.dumps(data.splits_record(), indent=2))
    (run_dir / "results.md").write_text(table + "\n")
    return 0


def with_num_classes(cfg):
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


def report_classifier(result, cfg) -> None:
    """Print the supervised classifier's top-1 on the test split (``eval.max_test_items`` of it) and
    write it to ``RUN/classifier.json``."""
    from selfsup.data import create_dataset, dataset_to_tensors
    from selfsup.views import eval_transform

    method = result.method
    size = cfg.data.image_size or method.encoder.image_size
    size = size or create_dataset(cfg.data.name, "train", root=cfg.data.root).image_size[0]
    test = create_dataset(cfg.data.name, "test", root=cfg.data.root, image_size=cfg.data.image_size)
    images, labels = dataset_to_tensors(test, cfg.eval.max_test_items)
    x = eval_transform(images.to(next(method.parameters()).device), int(size), *method.normalization())
    accuracy, n = method.float().accuracy(x, labels), int(labels.shape[0])
    print(f"supervised classifier: top-1 {accuracy:.2%} on {n} {cfg.data.name} test images")
    (result.run_dir / "classifier.json").write_text(
        json.dumps({"test_top1": accuracy, "test_items": n, "steps": result.derived.total_steps}, indent=2)
    )
