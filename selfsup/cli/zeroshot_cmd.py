"""``selfsup eval zeroshot|retrieval``: CLIP zero-shot classification and image-text retrieval.

The model is either a CLIP run of this library (``--checkpoint RUN/checkpoints/last.ckpt``: the method
is rebuilt from ``RUN/config.yaml`` and its weights read with ``torch.load(weights_only=True)``) or an
open_clip model from a local file (``--open-clip ARCH --checkpoint FILE [--open-clip-config JSON]``).

``clip_report(method, cfg)`` is what ``selfsup pretrain clip`` prints after training: zero-shot
accuracy on the held-out split of the labelled dataset behind the caption data and retrieval
Recall@1/5/10 on the held-out captions, each beside chance.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from selfsup.eval.zeroshot import DEFAULT_TEMPLATES

# Native image side of the caption datasets (when data.image_size is None).
_NATIVE_SIZE = {"fashion_mnist_captions": 28, "stamps_fashion_mnist_captions": 32}


def parse_list(value: str | None, what: str) -> list[str] | None:
    """A file with one entry per line, or entries separated by ``|``; None stays None."""
    if value is None:
        return None
    path = Path(value).expanduser()
    items = path.read_text(encoding="utf-8").splitlines() if path.is_file() else value.split("|")
    items = [s.strip() for s in items if s.strip()]
    if not items:
        raise ValueError(f"--{what} is empty; give a file with one per line or 'a|b|c'")
    return items


def load_clip_checkpoint(checkpoint: str | Path, device: str = "cpu") -> tuple[Any, Any]:
    """(CLIP method with the checkpoint's weights, its RunConfig) from ``RUN/checkpoints/*.ckpt``."""
    from selfsup.train.config_loader import load_run_config
    from selfsup.train.pretrain import build_method
    from selfsup.train.run_dir import run_dir_of_checkpoint

    run_dir = run_dir_of_checkpoint(checkpoint)
    cfg = load_run_config(run_dir / "config.yaml")
    if cfg.method_name != "clip":
        raise ValueError(
            f"{checkpoint} is a {cfg.method_name!r} run; zero-shot needs a clip run or --open-clip"
        )
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    weights = {k.removeprefix("method."): v for k, v in state.items() if k.startswith("method.")}
    conv = next(v for k, v in weights.items() if k.startswith("encoder.") and v.dim() == 4)
    size = cfg.data.image_size or _NATIVE_SIZE.get(cfg.data.name, 64)
    method = build_method(cfg, int(conv.shape[1]), size)
    method.load_state_dict(weights)
    return method.to(device).eval(), cfg


def load_model(args: argparse.Namespace) -> Any:
    if not args.checkpoint:
        raise ValueError(
            "pass --checkpoint (a clip run's RUN/checkpoints/last.ckpt, or a file with --open-clip)"
        )
    if args.open_clip:
        from selfsup.eval.open_clip_model import load_open_clip

        return load_open_clip(args.open_clip, args.checkpoint, args.open_clip_config)
    return load_clip_checkpoint(args.checkpoint)[0]


def labelled_split(name: str, split: str, root: str | None, image_size: int | None, max_items: int | None):
    """(uint8 images, labels, class names) of a labelled or caption dataset's ``split``."""
    from selfsup.data import create_dataset, dataset_to_tensors
    from selfsup.data.captions import CAPTION_DATASETS, create_caption_dataset

    key = name.strip().lower().replace("-", "_")
    if key in CAPTION_DATASETS:
        ds = create_caption_dataset(key, split, root, image_size)
        if ds.labels is None or not ds.classes:
            raise ValueError(f"caption dataset {name!r} has no class labels; zero-shot needs labelled data")
        images = ds.images_at(ds.caption_image)
        return images[:max_items], ds.labels[:max_items], ds.classes
    ds = create_dataset(name, split, root=root, image_size=image_size)
    images, labels = dataset_to_tensors(ds, max_items=max_items)
    return images, labels, list(ds.classes)


def zeroshot_result(
    model: Any, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], templates: Sequence[str]
) -> dict[str, float]:
    from selfsup.eval.zeroshot import zeroshot_classify

    readable = [c.replace("_", " ").lower() for c in classes]
    return zeroshot_classify(model, images, labels, readable, templates)


def run_zeroshot(args: argparse.Namespace) -> int:
    model = load_model(args)
    images, labels, classes = labelled_split(args.data, args.split, args.root, args.image_size, args.max_test)
    classes = parse_list(args.classes, "classes") or classes
    if len(classes) <= int(labels.max()):
        raise ValueError(f"--classes gives {len(classes)} names but the labels go up to {int(labels.max())}")
    templates = parse_list(args.templates, "templates") or list(DEFAULT_TEMPLATES)
    r = zeroshot_result(model, images, labels, classes, templates)
    print(
        f"zero-shot on {args.data} {args.split} ({len(labels)} images, {len(classes)} classes, "
        f"{len(templates)} templates): top-1 {100 * r['top1']:.2f}%  top-5 {100 * r['top5']:.2f}%  "
        f"(chance {100 * r['chance']:.2f}%)"
    )
    return 0


def format_recall(r: dict[str, float]) -> str:
    lines = ["| direction | R@1 (%) | R@5 (%) | R@10 (%) | chance R@5 (%) |", "|---|---:|---:|---:|---:|"]
    for d, name in (("i2t", "image→text"), ("t2i", "text→image")):
        vals = " | ".join(f"{100 * r[f'{d}_R@{k}']:.2f}" for k in (1, 5, 10))
        lines.append(f"| {name} | {vals} | {100 * r[f'chance_{d}_R@5']:.2f} |")
    return "\n".join(lines)


def run_retrieval(args: argparse.Namespace) -> int:
    from selfsup.data.captions import create_caption_dataset
    from selfsup.eval.retrieval import evaluate_retrieval

    model = load_model(args)
    ds = create_caption_dataset(args.data, args.split, args.root, args.image_size)
    r = evaluate_retrieval(model, ds)
    print(f"retrieval on {args.data} {args.split} ({ds.num_images} images, {len(ds)} captions)")
    print(format_recall(r))
    return 0


def _report_sets(cfg: Any) -> list[tuple[str, Any, bool]]:
    """(name, held-out caption dataset, whether retrieval is meaningful) of a CLIP run's data."""
    from selfsup.data.captions import create_caption_dataset, fashion_mnist_captions, stamps_captions

    name = cfg.data.name.strip().lower().replace("-", "_")
    if name == "stamps_fashion_mnist_captions":  # report the two sources apart: 17 vs 10 classes
        size = cfg.data.image_size or _NATIVE_SIZE[name]
        return [
            ("stamps_captions", stamps_captions("test", None, size), True),
            ("fashion_mnist_captions", fashion_mnist_captions("test", None, size, channels=3), False),
        ]
    test = create_caption_dataset(name, "test", cfg.data.root, cfg.data.image_size)
    # Templated captions repeat within a class, so retrieval there measures classification, not text.
    return [(name, test, name != "fashion_mnist_captions")]


def clip_report(method: Any, cfg: Any, templates: Sequence[str] = DEFAULT_TEMPLATES) -> str:
    """Zero-shot (held-out split, class names as text) and retrieval (held-out captions) of a CLIP run."""
    from selfsup.eval.retrieval import evaluate_retrieval

    method = method.float().eval()
    lines = []
    for name, test, retrieval in _report_sets(cfg):
        if test.labels is not None and test.classes:
            images = test.images_at(test.caption_image)
            r = zeroshot_result(method, images, test.labels, test.classes, templates)
            lines.append(
                f"zero-shot on {name} test ({len(test)} images, {len(test.classes)} class names as text, "
                f"{len(templates)} templates): top-1 {100 * r['top1']:.2f}% (chance {100 * r['chance']:.2f}%), "
                f"top-5 {100 * r['top5']:.2f}%"
            )
        if retrieval:
            lines.append(f"retrieval on {name} test ({test.num_images} images, {len(test)} captions):")
            lines.append(format_recall(evaluate_retrieval(method, test)))
    return "\n".join(lines)
