"""Image-caption datasets for CLIP: items ``(uint8 [C, S, S], int64 tokens [L], index)``.

One item per caption (an image with several captions appears once per caption); ``caption_image``
maps each caption to its image row, which retrieval uses to count every caption of an image as a
hit. Captions are tokenized once, at construction (``ClipTokenizer``, context 77), so the trainer's
``collate_batched`` receives the ids where labels usually are and the method gets them as
``labels`` in ``make_batch``; ``__getitems__`` returns whole batches.

Sources:
- ``read_caption_table(path)`` / ``read_coco_captions(path)``: CSV / TSV and COCO caption JSON files
  (``selfsup.data.caption_files``, which also reports bad rows);
- ``stamps_captions``: the photo stamps (``selfsup.data.stamps``) with their English captions;
  labels are the categories.
- ``fashion_mnist_captions``: Fashion-MNIST with captions from prompt templates.

Bad rows (missing or unreadable image file, empty caption) are skipped with one warning giving their
count and the first few. Images are decoded as every image dataset decodes them
(``selfsup.data.pixels``: 16-bit files scaled by their bit depth, transparency over white).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from selfsup.data.caption_files import read_caption_table, read_coco_captions, report_bad
from selfsup.data.in_memory import resize_uint8
from selfsup.data.pixels import to_8bit
from selfsup.nn.tokenizer import CONTEXT_LENGTH, ClipTokenizer

# Templates used to caption Fashion-MNIST images (CLIP §3.1.4 style prompts).
FASHION_TEMPLATES = (
    "a photo of a {}.",
    "a black and white photo of a {}.",
    "a low resolution photo of a {}.",
    "a photo of the {}, a type of clothing.",
)
CAPTION_DATASETS = ("captions", "fashion_mnist_captions", "stamps_captions", "stamps_fashion_mnist_captions")


def load_image(path: Path, size: int) -> Tensor:
    """RGB uint8 ``[3, size, size]``: shorter side resized to ``size`` then centre-cropped (CLIP's eval
    preprocessing, §2.5)."""
    try:
        with Image.open(path) as im:
            im = to_8bit(im, grayscale=False)
    except (OSError, SyntaxError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from e
    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
    left, top = (im.size[0] - size) // 2, (im.size[1] - size) // 2
    im = im.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).contiguous()


class CaptionDataset(Dataset):
    """Image-caption pairs; items ``(uint8 [C, S, S], int64 tokens [context_length], caption index)``.

    images:        uint8 ``[M, C, S, S]`` (in memory) or ``M`` image paths (read lazily, RGB).
    captions:      ``N`` caption strings.
    caption_image: ``N`` image rows (caption n describes image ``caption_image[n]``).
    labels/classes: optional class id per caption and class names (for zero-shot / kNN).
    eval_dataset:  name of the labelled dataset ``create_dataset`` builds for kNN/linear evaluation.
    """

    def __init__(
        self,
        images: Tensor | Sequence[Path],
        captions: Sequence[str],
        caption_image: Sequence[int] | Tensor,
        image_size: int = 64,
        context_length: int = CONTEXT_LENGTH,
        labels: Sequence[int] | Tensor | None = None,
        classes: Sequence[str] = (),
        name: str = "captions",
        eval_dataset: str | None = None,
    ) -> None:
        self.captions = [str(c) for c in captions]
        self.caption_image = torch.as_tensor(caption_image, dtype=torch.int64).reshape(-1)
        if not self.captions:
            raise ValueError(f"{name}: no captions left (every row was bad or the source is empty)")
        if len(self.caption_image) != len(self.captions):
            raise ValueError(f"{name}: {len(self.captions)} captions but {len(self.caption_image)} image ids")
        if isinstance(images, Tensor):
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise ValueError(
                    f"{name}: images must be uint8 [M, C, H, W], got {images.dtype} {tuple(images.shape)}"
                )
            self._images: Tensor | None = (
                images if images.shape[-1] == image_size else resize_uint8(images, image_size)
            )
            self._paths: list[Path] = []
            num_images = images.shape[0]
        else:
            self._images, self._paths = None, [Path(p) for p in images]
            num_images = len(self._paths)
        if int(self.caption_image.min()) < 0 or int(self.caption_image.max()) >= num_images:
            raise ValueError(f"{name}: caption_image must index the {num_images} images")
        self.num_images = num_images
        self.size = int(image_size)
        self.tokenizer = ClipTokenizer(context_length)
        unique = sorted(set(self.captions))  # templated captions repeat: tokenize each text once
        ids = self.tokenizer(unique)
        row = {c: i for i, c in enumerate(unique)}
        self.tokens = ids[torch.tensor([row[c] for c in self.captions])]
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
        self.classes = list(classes)
        self.name = name
        self.eval_dataset = eval_dataset

    @property
    def channels(self) -> int:
        return 3 if self._images is None else int(self._images.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.size, self.size)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.captions)

    def images_at(self, image_rows: Sequence[int] | Tensor) -> Tensor:
        """uint8 ``[n, C, S, S]`` of image rows (not caption indices)."""
        rows = torch.as_tensor(image_rows, dtype=torch.int64).reshape(-1)
        if self._images is not None:
            return self._images[rows]
        return torch.stack([load_image(self._paths[int(r)], self.size) for r in rows])

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, int]:
        image = self.images_at([int(self.caption_image[index])])[0]
        return image, self.tokens[index], int(index)

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
        idx = torch.as_tensor(list(indices), dtype=torch.int64)
        return self.images_at(self.caption_image[idx]), self.tokens[idx], idx

    def __repr__(self) -> str:
        return (
            f"CaptionDataset(name={self.name!r}, captions={len(self)}, images={self.num_images}, "
            f"size={self.size}, channels={self.channels})"
        )


def caption_dataset_from_rows(
    rows: list[tuple[Path, str]],
    image_size: int = 64,
    context_length: int = CONTEXT_LENGTH,
    name: str = "captions",
) -> CaptionDataset:
    """Group ``(path, caption)`` rows by image (several captions per image allowed)."""
    paths: list[Path] = []
    row_of: dict[Path, int] = {}
    caption_image = []
    for path, _ in rows:
        if path not in row_of:
            row_of[path] = len(paths)
            paths.append(path)
        caption_image.append(row_of[path])
    return CaptionDataset(paths, [c for _, c in rows], caption_image, image_size, context_length, name=name)


def caption_file_dataset(
    path: str | Path,
    image_size: int = 64,
    context_length: int = CONTEXT_LENGTH,
    image_root: str | None = None,
) -> CaptionDataset:
    """A CSV/TSV (``.csv``/``.tsv``/``.tab``) or COCO JSON (``.json``) caption file as a dataset."""
    path = Path(path).expanduser()
    if path.suffix.lower() == ".json":
        rows = read_coco_captions(path, image_root)
    elif path.suffix.lower() in (".csv", ".tsv", ".tab", ".txt"):
        rows = read_caption_table(path, image_root)
    else:
        raise ValueError(f"caption file {path}: expected .csv, .tsv or COCO .json, got {path.suffix!r}")
    return caption_dataset_from_rows(rows, image_size, context_length, name=path.name)


def stamps_captions(
    split: str = "train", root: str | None = None, image_size: int = 64, context_length: int = CONTEXT_LENGTH
) -> CaptionDataset:
    """The photo stamps of ``split`` with their English captions; stamps without one are skipped."""
    from selfsup.data.stamps import Stamps

    ds = Stamps(root=root, split=split, image_size=image_size)
    keep = [i for i, r in enumerate(ds.records) if r.caption.strip()]
    report_bad(
        f"stamps {split}", [f"empty caption for {r.path}" for r in ds.records if not r.caption.strip()]
    )
    return CaptionDataset(
        ds.images[keep],
        [ds.records[i].caption for i in keep],
        range(len(keep)),
        image_size,
        context_length,
        labels=ds.labels[keep],
        classes=ds.classes,
        name="stamps_captions",
        eval_dataset="stamps",
    )


def fashion_mnist_captions(
    split: str = "train",
    root: str | None = None,
    image_size: int = 28,
    context_length: int = CONTEXT_LENGTH,
    templates: Sequence[str] = FASHION_TEMPLATES,
    channels: int = 1,
    seed: int = 0,
) -> CaptionDataset:
    """Fashion-MNIST with one caption per image: a seeded random template filled with its class name."""
    from selfsup.data.fashion_mnist import FashionMNIST

    ds = FashionMNIST(root=root, split=split, image_size=image_size)
    names = [c.lower() for c in ds.classes]
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(len(templates), (len(ds.labels),), generator=g).tolist()
    captions = [templates[t].format(names[int(y)]) for t, y in zip(pick, ds.labels.tolist(), strict=True)]
    images = ds.images if channels == 1 else ds.images.expand(-1, channels, -1, -1).contiguous()
    return CaptionDataset(
        images,
        captions,
        range(len(captions)),
        image_size,
        context_length,
        labels=ds.labels,
        classes=names,
        name="fashion_mnist_captions",
        eval_dataset="fashion_mnist",
    )


def concat_captions(parts: Sequence[CaptionDataset], name: str, eval_dataset: str | None) -> CaptionDataset:
    """In-memory caption datasets of one size and channel count joined; class ids are offset per part."""
    if any(p._images is None for p in parts) or len({(p.channels, p.size) for p in parts}) != 1:
        raise ValueError("concat_captions needs in-memory parts of one image size and channel count")
    images, offsets, labels, classes = [], 0, [], []
    caption_image = []
    for p in parts:
        images.append(p._images)
        caption_image.append(p.caption_image + offsets)
        offsets += p.num_images
        labels.append(
            (p.labels if p.labels is not None else torch.zeros(len(p), dtype=torch.int64)) + len(classes)
        )
        classes += p.classes
    return CaptionDataset(
        torch.cat(images),
        [c for p in parts for c in p.captions],
        torch.cat(caption_image),
        parts[0].size,
        parts[0].tokenizer.context_length,
        labels=torch.cat(labels),
        classes=classes,
        name=name,
        eval_dataset=eval_dataset,
    )


def labelled_dataset_of(name: str) -> str | None:
    """Name of the labelled dataset (``create_dataset``) behind caption dataset ``name``, for kNN/linear
    evaluation of the image encoder; None for caption files (no labels)."""
    key = name.strip().lower().replace("-", "_")
    if key not in CAPTION_DATASETS:
        raise ValueError(f"unknown caption dataset {name!r}; available: {', '.join(CAPTION_DATASETS)}")
    return {"stamps_captions": "stamps", "stamps_fashion_mnist_captions": "stamps"}.get(
        key, "fashion_mnist" if key == "fashion_mnist_captions" else None
    )


def create_caption_dataset(
    name: str,
    split: str = "train",
    root: str | None = None,
    image_size: int | None = None,
    context_length: int = CONTEXT_LENGTH,
) -> CaptionDataset:
    """Caption dataset ``name`` (one of ``CAPTION_DATASETS``) for ``split``.

    "captions" reads ``root`` (a CSV/TSV/COCO JSON file; one file serves every split);
    "stamps_fashion_mnist_captions" joins the stamps and 3-channel templated Fashion-MNIST at one size.
    """
    key = name.strip().lower().replace("-", "_")
    if key == "captions":
        if root is None:
            raise ValueError(
                "dataset 'captions' needs root=FILE (data.root=FILE): a CSV/TSV or COCO JSON file"
            )
        return caption_file_dataset(root, image_size or 64, context_length)
    if key == "stamps_captions":
        return stamps_captions(split, root, image_size or 64, context_length)
    if key == "fashion_mnist_captions":
        return fashion_mnist_captions(split, root, image_size or 28, context_length)
    if key == "stamps_fashion_mnist_captions":
        size = image_size or 32
        parts = [
            stamps_captions(split, None, size, context_length),
            fashion_mnist_captions(split, None, size, context_length, channels=3),
        ]
        return concat_captions(parts, key, eval_dataset="stamps")
    raise ValueError(f"unknown caption dataset {name!r}; available: {', '.join(CAPTION_DATASETS)}")
