"""``create_dataset`` / ``list_datasets``: build any dataset from a name, a split and a root.

Names: "fashion_mnist" (default dataset, DESIGN.md section 6), "digits" (sklearn, for fast
tests), "stamps" (real color photo cut-outs, 17 categories), "video_pairs" (frame pairs of real
videos, unlabelled), "shards" (webdataset-style tar files) and "folder" (any image directory). Hyphens and case are ignored
("Fashion-MNIST" works); "image_folder" is an alias of "folder".

Each name is a builder in ``selfsup.registry.DATASETS``: ``(split, root, image_size, strict, kw) ->
Dataset``; ``@DATASETS.register("my_data")`` on such a function adds a dataset that
``create_dataset`` (and so the Python API: ``pretrain``, ``selfsup.eval``) builds by name.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from selfsup.data.captions import CAPTION_DATASETS, create_caption_dataset
from selfsup.data.digits import Digits
from selfsup.data.fashion_mnist import FashionMNIST
from selfsup.data.image_folder import ImageFolderDataset
from selfsup.data.splits import HELDOUT_TEST_FRACTION, HELDOUT_TEST_SEED, stratified_split
from selfsup.data.stamps import Stamps
from selfsup.registry import DATASETS

_ALIASES = {"image_folder": "folder", "imagefolder": "folder", "fashionmnist": "fashion_mnist"}
_FOLDER_DEFAULT_SIZE = 64
_SPLIT_DIRS = ("train", "val", "test")


def list_datasets() -> list[str]:
    """Names accepted by ``create_dataset`` (``selfsup.registry.DATASETS``)."""
    return DATASETS.names()


def _canonical(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available datasets: {', '.join(list_datasets())}")
    return key


def _folder_split(root: Path, split: str) -> tuple[Path, Path | None]:
    """(folder for ``split``, the train folder whose class list fixes label ids, if separate).

    A folder without split sub-folders is returned whole; ``_hold_out`` then carves its test split.
    """
    if not root.exists():
        raise FileNotFoundError(
            f"image folder {root} does not exist; pass root=DIR (data.root=DIR) of an existing folder"
        )
    if (root / split).is_dir():
        train = root / "train"
        return root / split, (train if split != "train" and train.is_dir() else None)
    present = [s for s in _SPLIT_DIRS if (root / s).is_dir()]
    if present:
        raise ValueError(
            f"image folder {root} is split into {present} sub-folders but has no {split!r} one; "
            f"pass split={present[0]!r} or add {root / split}"
        )
    return root, None


def _hold_out(dataset: ImageFolderDataset, split: str) -> ImageFolderDataset:
    """A labelled folder without ``train/``/``test/`` sub-folders: ``HELDOUT_TEST_FRACTION`` of each
    class (seeded) is its test split and the rest its train split, so no split ever scores the images
    another split was fit on. An unlabelled folder is one unsplit pool (nothing to score on it)."""
    if dataset.num_classes < 2:
        if split != "train":
            warnings.warn(
                f"image folder {dataset.root} has no {split!r} sub-folder and no class labels; using the "
                f"whole folder for split {split!r} (the same images as 'train')",
                stacklevel=3,
            )
        return dataset
    train_idx, test_idx = stratified_split(dataset.labels, HELDOUT_TEST_FRACTION, HELDOUT_TEST_SEED)
    if test_idx.numel() == 0:
        raise ValueError(
            f"image folder {dataset.root} has too few images per class to hold out a test split "
            f"(every class has one image); add a test/ sub-folder (root/train/CLASS, root/test/CLASS)"
        )
    percent = round(100 * HELDOUT_TEST_FRACTION)
    note = f"{percent} % of {dataset.root} held out as test (no test/ sub-folder; stratified, seed {HELDOUT_TEST_SEED})"
    dataset.select(train_idx if split == "train" else test_idx, note)
    return dataset


def create_dataset(
    name: str,
    split: str = "train",
    root: str | None = None,
    image_size: int | None = None,
    strict: bool = False,
    **kw: Any,
) -> Dataset:
    """Build dataset ``name`` for ``split``; every item is ``(uint8 [C, H, W], label, index)``.

    name:       one of ``list_datasets()``.
    split:      "train" or "test". For "folder", ``root/<split>`` is used when it exists
                (label ids then follow ``root/train``'s classes); a labelled folder without split
                sub-folders holds out 20 % of each class as "test" (``selfsup.data.splits``).
    root:       data directory; Fashion-MNIST defaults to /usr/share/datasets/fashion-mnist,
                stamps to /usr/share/tuxpaint/stamps, "folder" requires it, "digits" takes none (it ships with scikit-learn).
    image_size: square side. None keeps 28 (Fashion-MNIST) / 8 (digits) / 64 (stamps, folder).
    strict:     folder and shards: raise on an unreadable image (or a truncated shard, a link in a
                tar) instead of skipping it.
    kw:         extra keyword arguments of the dataset class (e.g. ``grayscale=True`` for folders,
                ``background="random"`` for stamps).
    """
    return DATASETS[_canonical(name)](split, root, image_size, strict, kw)


def _register_captions() -> None:
    for key in CAPTION_DATASETS:  # image-caption pairs for CLIP: items (image, token ids [77], index)

        def build(split, root, image_size, strict, kw, key=key):
            _no_extra(key, kw)
            return create_caption_dataset(key, split, root=root, image_size=image_size)

        DATASETS.register(key)(build)


_register_captions()


@DATASETS.register("fashion_mnist")
def _fashion_mnist(split, root, image_size, strict, kw) -> Dataset:
    _no_extra("fashion_mnist", kw)
    return FashionMNIST(root=root, split=split, image_size=image_size)


@DATASETS.register("digits")
def _digits(split, root, image_size, strict, kw) -> Dataset:
    if root is not None:
        raise ValueError(f"dataset 'digits' ships with scikit-learn and takes no root (got root={root!r})")
    _no_extra("digits", kw)
    return Digits(split=split, image_size=image_size)


@DATASETS.register("shards")
def _shards(split, root, image_size, strict, kw) -> Dataset:
    """Webdataset-style tar shards under root (root/<split>/ when split folders exist)."""
    from selfsup.data.shards import ShardedImageDataset

    if root is None:
        raise ValueError("dataset 'shards' needs root=DIR (data.root=DIR): the folder of .tar shards")
    _check_kwargs("shards", kw, ShardedImageDataset, {"root", "image_size", "strict"})
    folder = Path(root).expanduser()
    folder = folder / split if (folder / split).is_dir() else folder
    return ShardedImageDataset(folder, image_size=image_size or _FOLDER_DEFAULT_SIZE, strict=strict, **kw)


@DATASETS.register("video_pairs")
def _video_pairs(split, root, image_size, strict, kw) -> Dataset:
    """Unlabelled (reference, target) frame pairs of the real sample videos, for video colorization;
    the same clips serve every split."""
    from selfsup.data.video import FramePairs

    _check_kwargs("video_pairs", kw, FramePairs, {"height", "width"})
    size = image_size if image_size is not None else 64
    return FramePairs(height=size, width=size, **kw)


@DATASETS.register("stamps")
def _stamps(split, root, image_size, strict, kw) -> Dataset:
    _check_kwargs("stamps", kw, Stamps, {"root", "split", "image_size"})
    return Stamps(root=root, split=split, image_size=image_size, **kw)


@DATASETS.register("stamps_gradient")
def _stamps_gradient(split, root, image_size, strict, kw) -> Dataset:
    """The stamps on seeded random two-colour gradients: a background that varies from image to image
    and carries no class information, for attention that must learn to ignore one (DINO on stamps)."""
    _check_kwargs("stamps_gradient", kw, Stamps, {"root", "split", "image_size", "background"})
    return Stamps(root=root, split=split, image_size=image_size, background="random", **kw)


@DATASETS.register("folder")
def _folder(split, root, image_size, strict, kw) -> Dataset:
    if root is None:
        raise ValueError("dataset 'folder' needs root=DIR (data.root=DIR): the directory of images")
    folder, train_folder = _folder_split(Path(root).expanduser(), split)
    size = image_size if image_size is not None else _FOLDER_DEFAULT_SIZE
    _check_kwargs("folder", kw, ImageFolderDataset, {"root", "image_size", "strict"})
    if train_folder is not None and "classes" not in kw and kw.get("labeled") is not False:
        # Without this a test split missing a class would shift every later label id.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = ImageFolderDataset(
                train_folder, image_size=size, validate=False, labeled=kw.get("labeled")
            )
        if reference.classes:
            kw["classes"] = reference.classes
    dataset = ImageFolderDataset(folder, image_size=size, strict=strict, **kw)
    return _hold_out(dataset, split) if folder == Path(root).expanduser() else dataset


def _check_kwargs(name: str, kw: dict[str, Any], cls: type, fixed: set[str]) -> None:
    valid = set(inspect.signature(cls).parameters) - fixed
    unknown = sorted(set(kw) - valid)
    if unknown:
        raise TypeError(f"dataset {name!r}: unknown arguments {unknown}; valid: {sorted(valid)}")


def _no_extra(name: str, kw: dict[str, Any]) -> None:
    if kw:
        raise TypeError(f"dataset {name!r} takes no extra arguments, got {sorted(kw)}")
