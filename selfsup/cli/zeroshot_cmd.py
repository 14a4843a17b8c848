"""``selfsup eval zeroshot|retrieval``: CLIP zero-shot classification and image-text retrieval.

The model is either a CLIP run of this library (``--checkpoint RUN/checkpoints/last.ckpt``, rebuilt by
``selfsup.runs.load_run`` at the run's recorded input, weights read with
``torch.load(weights_only=True)``) or an open_clip model from a local file (``--open-clip ARCH
--checkpoint FILE [--open-clip-config JSON]``).

A run is evaluated on what it was trained with (its ``InputSpec``): without options, the held-out
split of its own caption data at its own image size, i.e. the sets and lines ``selfsup pretrain clip``
printed after training (``clip_report``). ``--data`` evaluates on another dataset (transfer, named in
the output); an ``--image-size`` other than the run's, or a dataset with another channel count, is an
error naming both unless ``--allow-input-mismatch``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from selfsup.cli.common import SubCommand
from selfsup.eval.zeroshot import DEFAULT_TEMPLATES
from selfsup.runs import check_eval_input, load_run
from selfsup.types import InputSpec

# Templated captions repeat within a class: retrieval there measures classification, not text.
_NO_RETRIEVAL = ("fashion_mnist_captions",)


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


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def load_clip_checkpoint(checkpoint: str | Path, device: str = "cpu") -> tuple[Any, Any]:
    """(CLIP method with the checkpoint's weights, its RunConfig) from ``RUN/checkpoints/*.ckpt``."""
    run = load_run(checkpoint, "clip", need_method=True)
    return run.method.to(device).eval(), run.config


class _AsTrained:
    """A CLIP model whose ``encode_images`` first converts images to the channels it was trained on.

    A no-op when the channels match; other channels only reach it after ``check_eval_input`` let
    them through (``--allow-input-mismatch``). ``encode_texts`` / ``encode_tokens`` are the model's own.
    """

    def __init__(self, model: Any, channels: int) -> None:
        self.model, self.channels = model, channels

    def encode_images(self, images: Tensor) -> Tensor:
        from selfsup.views.channels import match_channels

        return self.model.encode_images(match_channels(images, self.channels))

    def __getattr__(self, name: str) -> Any:
        if name == "model":  # not set yet (copy / unpickle): no recursion through __getattr__
            raise AttributeError(name)
        return getattr(self.model, name)


def caption_sets(name: str, root: str | None, size: int | None, split: str = "test") -> list[tuple[str, Any]]:
    """``(name, CaptionDataset)`` of ``split`` that a CLIP run on caption data ``name`` is scored on.

    The joint stamps + Fashion-MNIST data is reported as its two sources (17 vs 10 classes); the
    other caption datasets as themselves. ``size`` None: the dataset's own default (as in training).
    """
    from selfsup.data.captions import create_caption_dataset, fashion_mnist_captions, stamps_captions

    key = _key(name)
    if key == "stamps_fashion_mnist_captions":
        size = size or create_caption_dataset(key, split, root, None).size
        return [
            ("stamps_captions", stamps_captions(split, None, size)),
            ("fashion_mnist_captions", fashion_mnist_captions(split, None, size, channels=3)),
        ]
    return [(key, create_caption_dataset(key, split, root, size))]


def labelled_split(name: str, split: str, root: str | None, image_size: int | None, max_items: int | None):
    """(uint8 images, labels, class names) of a labelled or caption dataset's ``split``."""
    from selfsup.data import create_dataset, dataset_to_tensors
    from selfsup.data.captions import CAPTION_DATASETS, create_caption_dataset

    if _key(name) in CAPTION_DATASETS:
        return caption_labels(name, create_caption_dataset(_key(name), split, root, image_size), max_items)
    ds = create_dataset(name, split, root=root, image_size=image_size)
    images, labels = dataset_to_tensors(ds, max_items=max_items)
    return images, labels, list(ds.classes)


def caption_labels(name: str, ds: Any, max_items: int | None = None) -> tuple[Tensor, Tensor, list[str]]:
    """(uint8 image of every caption ``[N, C, S, S]``, its class ``[N]``, class names) of a caption set."""
    if ds.labels is None or not ds.classes:
        raise ValueError(f"caption dataset {name!r} has no class labels; zero-shot needs labelled data")
    return ds.images_at(ds.caption_image)[:max_items], ds.labels[:max_items], list(ds.classes)


def zeroshot_result(
    model: Any, images: Tensor, labels: Tensor, classes: Sequence[str], templates: Sequence[str]
) -> dict[str, float]:
    from selfsup.eval.zeroshot import zeroshot_classify

    readable = [c.replace("_", " ").lower() for c in classes]
    return zeroshot_classify(model, images, labels, readable, templates)


def format_zeroshot(
    name: str, split: str, num_classes: int, num_templates: int, num_images: int, r: dict[str, float]
) -> str:
    """The one zero-shot line of ``clip_report`` and ``selfsup eval zeroshot``."""
    return (
        f"zero-shot on {name} {split} ({num_images} images, {num_classes} class names as text, "
        f"{num_templates} templates): top-1 {100 * r['top1']:.2f}% (chance {100 * r['chance']:.2f}%), "
        f"top-5 {100 * r['top5']:.2f}%"
    )


def format_recall(r: dict[str, float]) -> str:
    lines = ["| direction | R@1 (%) | R@5 (%) | R@10 (%) | chance R@5 (%) |", "|---|---:|---:|---:|---:|"]
    for d, name in (("i2t", "image→text"), ("t2i", "text→image")):
        vals = " | ".join(f"{100 * r[f'{d}_R@{k}']:.2f}" for k in (1, 5, 10))
        lines.append(f"| {name} | {vals} | {100 * r[f'chance_{d}_R@5']:.2f} |")
    return "\n".join(lines)


def retrieval_lines(model: Any, name: str, split: str, ds: Any) -> list[str]:
    """The retrieval heading and Recall@K table of ``clip_report`` and ``selfsup eval retrieval``."""
    from selfsup.eval.retrieval import evaluate_retrieval

    r = evaluate_retrieval(model, ds)
    return [f"retrieval on {name} {split} ({ds.num_images} images, {len(ds)} captions):", format_recall(r)]


def _spec_without_record(method: Any, cfg: Any) -> InputSpec:
    """A run's input as training built it, for callers without the run's record."""
    size = cfg.data.image_size
    if size is None:  # the caption dataset's own default, which training used
        size = caption_sets(cfg.data.name, cfg.data.root, None)[0][1].size
    mean, std = method.normalization()
    return InputSpec(int(size), int(method.encoder.in_chans), mean, std, cfg.data.name, cfg.data.root)


def clip_report(
    method: Any,
    cfg: Any,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    spec: InputSpec | None = None,
    split: str = "test",
) -> str:
    """Zero-shot (class names as text) and retrieval (captions) of a CLIP run on its held-out split.

    ``spec``: the run's recorded input (``selfsup.runs.input_spec_of``); None rebuilds it from ``cfg``.
    ``selfsup eval zeroshot`` + ``selfsup eval retrieval --checkpoint CKPT`` print the same lines.
    """
    spec = spec or _spec_without_record(method, cfg)
    method = method.float().eval()
    lines = []
    for name, ds in caption_sets(spec.dataset or cfg.data.name, spec.root, spec.image_size, split):
        if ds.labels is not None and ds.classes:
            images, labels, classes = caption_labels(name, ds)
            r = zeroshot_result(method, images, labels, classes, templates)
            lines.append(format_zeroshot(name, split, len(classes), len(templates), len(labels), r))
        if name not in _NO_RETRIEVAL:
            lines += retrieval_lines(method, name, split, ds)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the two commands
def add_retrieval_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``selfsup eval retrieval`` (the model and the data)."""
    from selfsup.cli.encoder_input import add_input_arguments

    p.add_argument("--checkpoint", help="a clip run's RUN/checkpoints/last.ckpt or open_clip weights file")
    p.add_argument(
        "--open-clip", metavar="ARCH", help="open_clip architecture of --checkpoint, e.g. ViT-B-32"
    )
    p.add_argument("--open-clip-config", help="JSON config of a custom open_clip architecture (stem = ARCH)")
    add_input_arguments(p)  # --data, --root, --image-size, --allow-input-mismatch: default as trained
    p.add_argument("--split", default="test", help="dataset split to evaluate (default %(default)s)")


def add_zeroshot_arguments(p: argparse.ArgumentParser) -> None:
    add_retrieval_arguments(p)
    p.add_argument("--classes", help="class names: a file (one per line) or 'a|b|c' (default: the dataset's)")
    p.add_argument("--templates", help="prompt templates with {}: a file (one per line) or 'a {}.|...'")
    p.add_argument("--max-test", type=int, help="use only the first N images of the split")


def _load(args: argparse.Namespace) -> tuple[Any, InputSpec | None]:
    """(model, its input spec: None for an open_clip file, which has its own preprocessing)."""
    if not args.checkpoint:
        raise ValueError(
            "pass --checkpoint (a clip run's RUN/checkpoints/last.ckpt, or a file with --open-clip)"
        )
    if args.open_clip:
        from selfsup.eval.open_clip_model import load_open_clip

        if args.data is None:
            raise ValueError("--open-clip needs --data NAME: an open_clip file records no training dataset")
        return load_open_clip(args.open_clip, args.checkpoint, args.open_clip_config), None
    run = load_run(args.checkpoint, "clip", need_method=True)
    return _AsTrained(run.method.float().eval(), run.spec.channels), run.spec


def _size(args: argparse.Namespace, spec: InputSpec | None) -> int | None:
    """The run's own size unless ``--image-size`` deliberately differs (None: the dataset's default)."""
    if spec is None:
        return args.image_size
    return check_eval_input(spec, args.checkpoint, args.image_size, allow_mismatch=args.allow_input_mismatch)


def _own_sets(args: argparse.Namespace, spec: InputSpec, size: int | None) -> list[tuple[str, Any]]:
    if spec.dataset is None:
        raise ValueError(f"{args.checkpoint} records no training dataset; pass --data NAME")
    return caption_sets(spec.dataset, spec.root, size, args.split)


def _root(args: argparse.Namespace, spec: InputSpec | None) -> str | None:
    """``--root``, else the run's own root when ``--data`` is the run's own dataset."""
    if args.root is not None or spec is None or _key(args.data) != _key(spec.dataset or ""):
        return args.root
    return spec.root


def _check(
    args: argparse.Namespace, spec: InputSpec | None, name: str, size: int | None, channels: int
) -> None:
    """Raise on a channel mismatch unless deliberate; say what differs from training when it does."""
    if spec is None:
        return
    check_eval_input(
        spec, args.checkpoint, channels=channels, data=name, allow_mismatch=args.allow_input_mismatch
    )
    differs = []
    if args.data is not None and _key(args.data) != _key(spec.dataset or ""):
        differs.append(f"dataset {name!r} (trained on {spec.dataset!r})")
    if size is not None and size != spec.image_size:
        differs.append(f"{size} px (trained at {spec.image_size} px)")
    if channels != spec.channels:
        differs.append(f"{channels}-channel images converted to {spec.channels}")
    if differs:
        print(f"note: evaluated on {', '.join(differs)}")


def run_zeroshot(args: argparse.Namespace) -> int:
    """``selfsup eval zeroshot``: one line per evaluated set (``format_zeroshot``)."""
    model, spec = _load(args)
    size = _size(args, spec)
    if args.data is None:
        sets = [(name, *caption_labels(name, ds, args.max_test)) for name, ds in _own_sets(args, spec, size)]
    else:
        sets = [(args.data, *labelled_split(args.data, args.split, _root(args, spec), size, args.max_test))]
    templates = parse_list(args.templates, "templates") or list(DEFAULT_TEMPLATES)
    for name, images, labels, classes in sets:
        _check(args, spec, name, size, int(images.shape[1]))
        classes = parse_list(args.classes, "classes") or classes
        if len(classes) <= int(labels.max()):
            raise ValueError(
                f"--classes gives {len(classes)} names but the labels of {name} go up to {int(labels.max())}"
            )
        r = zeroshot_result(model, images, labels, classes, templates)
        print(format_zeroshot(name, args.split, len(classes), len(templates), len(labels), r))
    return 0


def run_retrieval(args: argparse.Namespace) -> int:
    """``selfsup eval retrieval``: a heading and a Recall@K table per evaluated caption set."""
    from selfsup.data.captions import create_caption_dataset

    model, spec = _load(args)
    size = _size(args, spec)
    if args.data is None:
        own = _own_sets(args, spec, size)
        sets = [s for s in own if s[0] not in _NO_RETRIEVAL] or own
    else:
        sets = [(args.data, create_caption_dataset(args.data, args.split, _root(args, spec), size))]
    for name, ds in sets:
        _check(args, spec, name, size, ds.channels)
        print("\n".join(retrieval_lines(model, name, args.split, ds)))
    return 0


ZEROSHOT = SubCommand("CLIP zero-shot classification", add_zeroshot_arguments, run_zeroshot)
RETRIEVAL = SubCommand("CLIP image-text retrieval (Recall@K)", add_retrieval_arguments, run_retrieval)
