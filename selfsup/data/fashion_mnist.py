"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 70k real 28x28 grayscale product photos, 10 classes.

Read from the four IDX files of the official release (gzip-compressed or not), which the
Debian package ``dataset-fashion-mnist`` installs in ``/usr/share/datasets/fashion-mnist``.
Split "train" has 60,000 images (6,000 per class), "test" 10,000 (1,000 per class).
Decoded arrays are cached per (directory, split) for the life of the process, so building
the dataset a second time (e.g. once for training, once for the kNN monitor) costs nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch
from torch import Tensor

from selfsup.data.idx import IdxFormatError, read_idx
from selfsup.data.in_memory import InMemoryImageDataset

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Layouts other tools leave behind: torchvision's download folder, or the files one level down.
_SUBDIRS = ("", "FashionMNIST/raw", "fashion-mnist", "raw")

_CACHE: dict[tuple, tuple[Tensor, Tensor]] = {}
_CACHE_LOCK = threading.Lock()


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def find_fashion_mnist_files(root: str | Path, split: str) -> tuple[Path, Path]:
    """Paths of the (images, labels) IDX files of ``split`` under ``root``.

    Raises ``FileNotFoundError`` naming the directory, the expected files and how to get them.
    """
    root = Path(root).expanduser()
    images_stem, labels_stem = _FILES[split]
    for sub in _SUBDIRS:
        directory = root / sub if sub else root
        images, labels = _find(directory, images_stem), _find(directory, labels_stem)
        if images is not None and labels is not None:
            return images, labels
    expected = ", ".join(f"{s}[.gz]" for pair in _FILES.values() for s in pair)
    state = "does not exist" if not root.exists() else "lacks the files"
    raise FileNotFoundError(
        f"Fashion-MNIST not found: directory {root} {state} (need {expected}). "
        "Install them with `sudo apt-get install dataset-fashion-mnist` "
        f"(puts them in {DEFAULT_ROOT}), or pass --root DIR / data.root=DIR "
        "pointing at a folder that holds these files."
    )


def load_fashion_mnist_arrays(root: str | Path = DEFAULT_ROOT, split: str = "train") -> tuple[Tensor, Tensor]:
    """Decoded ``(images uint8 [N, 1, 28, 28], labels int64 [N])``, cached per (root, split).

    The cached tensors are shared between callers; do not modify them in place.
    """
    if split not in _FILES:
        raise ValueError(f"Fashion-MNIST split must be one of {sorted(_FILES)}, got {split!r}")
    images_path, labels_path = find_fashion_mnist_files(root, split)
    # The files' size and mtime are part of the key so a replaced file is re-read.
    key = tuple(
        (str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in (images_path, labels_path)
    )
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype.itemsize != 1:
        raise IdxFormatError(
            f"{images_path}: expected uint8 images [N, H, W], got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise IdxFormatError(
            f"{labels_path}: {labels.shape} labels do not match {images.shape[0]} images in {images_path}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(FASHION_MNIST_CLASSES)):
        raise IdxFormatError(f"{labels_path}: labels outside 0..9 ({labels.min()}..{labels.max()})")
    out = (
        torch.from_numpy(images.astype("uint8", copy=False)).unsqueeze(1).contiguous(),
        torch.from_numpy(labels.astype("int64")),
    )
    with _CACHE_LOCK:
        _CACHE.setdefault(key, out)
        return _CACHE[key]


def clear_fashion_mnist_cache() -> None:
    """Drop the per-process cache of decoded arrays (frees ~55 MB)."""
    with _CACHE_LOCK:
        _CACHE.clear()


class FashionMNIST(InMemoryImageDataset):
    """Fashion-MNIST split as an in-memory dataset of uint8 ``[1, 28, 28]`` images.

    root:       folder holding the IDX files; default ``/usr/share/datasets/fashion-mnist``
                (Debian ``dataset-fashion-mnist``).
    split:      "train" (60,000) or "test" (10,000).
    image_size: optional square resize applied once (default None keeps 28 px).
    """

    def __init__(
        self, root: str | Path | None = None, split: str = "train", image_size: int | None = None
    ) -> None:
        images, labels = load_fashion_mnist_arrays(root if root is not None else DEFAULT_ROOT, split)
        super().__init__(
            images, labels, FASHION_MNIST_CLASSES, image_size=image_size, name=f"fashion_mnist/{split}"
        )
        self.split = split
