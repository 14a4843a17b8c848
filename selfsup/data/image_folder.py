"""A directory of image files as a dataset, decoded lazily with PIL, on a fixed square canvas.

Layout: if ``root`` has sub-folders that contain images (at any depth), each sub-folder is a
class and labels are the sorted sub-folder names (the torchvision ``ImageFolder`` layout);
otherwise every image under ``root`` is an unlabeled sample (label -1).

Each item is decoded, EXIF-rotated, alpha-composited over a flat background, converted to
RGB (or L with ``grayscale=True``; 16-bit images scaled by their bit depth, ``selfsup.data.pixels``), its shorter side resized to ``image_size`` and centre
cropped, so items of any size stack into batches. Augmentation happens later, batched on
the training device (DESIGN.md section 3). Default ``image_size`` 64: enough for the small
CPU backbones, ~4x less decode/transfer than 128.

Links: each real file is one item, in the class folder where it physically lives (a link from
one class folder into another would otherwise label one image twice); duplicates are reported in
one warning.

Unreadable files never stop an epoch. At construction every file is checked with PIL's
``verify()`` (reads headers and, for PNG, chunk checksums, without decoding); bad files are
dropped and reported in ONE warning (count and first paths; list in ``skipped``). Should a
file that passed still fail to decode later (e.g. a truncated JPEG body), ``__getitem__``
substitutes the next readable item, deterministically, and counts it. ``strict=True``
raises ``CorruptImageError`` naming the file instead.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor
from torch.utils.data import Dataset

from selfsup.data.pixels import to_8bit

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_SHOW_FIRST = 5  # how many bad paths a warning names


class CorruptImageError(ValueError):
    """An image file cannot be decoded (raised in ``strict`` mode)."""


def is_image_file(path: str | os.PathLike) -> bool:
    """True for a non-hidden file name with one of ``IMAGE_EXTENSIONS`` (case-insensitive)."""
    name = os.path.basename(os.fspath(path))
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _images_under(directory: str) -> list[str]:
    """All image files below ``directory`` (recursive, hidden entries skipped), sorted.

    Symlinked folders are followed (a dataset may link its parts in), but each real folder is scanned
    once: a link back up the tree (a loop) or a second link to a scanned folder is skipped and reported,
    instead of repeating the same images until the path is too long (40 files once became 1,640 items).
    """
    found, skipped = [], []
    top = os.stat(directory)
    seen = {(top.st_dev, top.st_ino)}
    for current, dirs, files in os.walk(directory, followlinks=True):
        kept = []
        for d in sorted(d for d in dirs if not d.startswith(".")):
            try:
                st = os.stat(os.path.join(current, d))
            except OSError:  # a dangling link
                continue
            real = os.path.realpath(os.path.join(current, d))
            here = os.path.realpath(current)
            if (
                (st.st_dev, st.st_ino) in seen
                or here == real
                or here.startswith(real.rstrip(os.sep) + os.sep)
            ):
                # scanned already, or an ancestor of this folder (a loop, also one above ``directory``)
                skipped.append(os.path.join(current, d))
                continue
            seen.add((st.st_dev, st.st_ino))
            kept.append(d)
        dirs[:] = kept
        found.extend(os.path.join(current, f) for f in files if is_image_file(f))
    if skipped:
        warnings.warn(
            f"image folder {directory}: skipped {len(skipped)} linked folder(s) already scanned (a symlink "
            f"loop or a duplicate link, e.g. {skipped[0]}); their images are counted once",
            stacklevel=3,
        )
    return sorted(found)


def _real_paths(paths: list[str]) -> list[tuple[str, str]]:
    """``(real path of the file, real path of the folder holding its entry)`` for each path,
    resolving each folder once (one ``lstat`` per file)."""
    folders: dict[str, str] = {}
    out = []
    for p in paths:
        head, name = os.path.split(p)
        if head not in folders:
            folders[head] = os.path.realpath(head)
        real = os.path.realpath(p) if os.path.islink(p) else os.path.join(folders[head], name)
        out.append((real, folders[head]))
    return out


def _each_file_once(root: Path, per_class: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each real file once, in the class folder where it physically lives.

    A link from one class folder into another (a file link, or a folder link such as
    ``cats/more -> ../dogs``) would otherwise give the same image two labels and count it twice.
    Users link to share files, not to relabel them, so the file keeps the label of the folder that
    holds it; a file that lives outside every class folder (a dataset that links its parts in) keeps
    the class whose folder holds the link itself, else the first class (sorted) that reaches it.
    Dropped duplicates are reported in ONE warning.
    """
    homes = {d: os.path.realpath(root / d).rstrip(os.sep) + os.sep for d in per_class}

    def home_of(real: str) -> str | None:
        return next((d for d, h in homes.items() if (real + os.sep).startswith(h)), None)

    where: dict[str, list[tuple[str, str, str]]] = {}  # real path -> [(class, path as found, entry dir)]
    for d, paths in per_class.items():
        for path, (real, folder) in zip(paths, _real_paths(paths), strict=True):
            where.setdefault(real, []).append((d, path, folder))
    kept: dict[str, list[str]] = {d: [] for d in per_class}
    dropped: list[tuple[str, str]] = []  # (path as found, the path kept instead)
    for real, found in where.items():
        classes = [d for d, _, _ in found]
        home = home_of(real)
        if home not in classes:
            home = next((home_of(f) for _, _, f in found if home_of(f) in classes), classes[0])
        candidates = [(p, f) for d, p, f in found if d == home]
        # the file's own entry rather than a link to it, when both are in the class
        keep = next(
            (p for p, f in candidates if os.path.join(f, os.path.basename(p)) == real), candidates[0][0]
        )
        kept[home].append(keep)
        dropped += [(p, keep) for _, p, _ in found if p != keep]
    if dropped:
        path, keep = dropped[0]
        warnings.warn(
            f"image folder {root}: {len(dropped)} image(s) reached through links are the same file as "
            f"another image (e.g. {os.path.relpath(path, root)} is {os.path.relpath(keep, root)}); each "
            "file is counted once, in the class folder where it lives",
            stacklevel=4,
        )
    return {d: sorted(paths) for d, paths in kept.items()}


def _scan(
    root: Path, labeled: bool | None, classes: Sequence[str] | None
) -> tuple[list[tuple[str, int]], list[str]]:
    subdirs = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    per_class = {d: _images_under(str(root / d)) for d in subdirs}
    if labeled is None:
        labeled = any(per_class.values())
    if not labeled:
        return [(p, -1) for p in _each_file_once(root, {"": _images_under(str(root))})[""]], []
    per_class = _each_file_once(root, per_class)
    class_dirs = [d for d in subdirs if per_class[d]]
    if not class_dirs:
        raise ValueError(
            f"image folder {root}: labeled=True but no sub-folder contains images; "
            "put each class in its own sub-folder or pass labeled=False"
        )
    if classes is None:
        classes = class_dirs
    else:
        classes = list(classes)
        unknown = [d for d in class_dirs if d not in classes]
        if unknown:
            raise ValueError(
                f"image folder {root}: sub-folders {unknown} are not among the given classes {classes}"
            )
    loose = [f for f in os.listdir(root) if is_image_file(f) and (root / f).is_file()]
    if loose:
        warnings.warn(
            f"image folder {root}: ignoring {len(loose)} image(s) directly in the folder because labels come "
            f"from sub-folders (e.g. {loose[0]!r}); pass labeled=False to use every image unlabeled",
            stacklevel=3,
        )
    index = {c: i for i, c in enumerate(classes)}
    return [(p, index[d]) for d in class_dirs for p in per_class[d]], classes


def _check_readable(path: str) -> Exception | None:
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as err:  # PIL raises many types (UnidentifiedImageError, SyntaxError, OSError, ...)
        return err
    return None


class ImageFolderDataset(Dataset):
    """Images from a folder as ``(uint8 [C, S, S], label, index)``, ``S = image_size``.

    root:       the folder (see module docstring for the layout).
    image_size: side of the square canvas (default 64).
    grayscale:  decode to 1 channel (L) instead of 3 (RGB).
    strict:     raise ``CorruptImageError`` on an unreadable file instead of skipping it.
    validate:   check every file at construction (default True; False skips the ~0.1 ms/file
                check and relies on the ``__getitem__`` guard alone).
    labeled:    force labels from sub-folders (True) or no labels (False); None = auto.
    classes:    fixed class list (e.g. the train split's) so label ids agree across splits.
    background: grey level (0..255) that transparent pixels are composited over.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        image_size: int = 64,
        grayscale: bool = False,
        strict: bool = False,
        validate: bool = True,
        labeled: bool | None = None,
        classes: Sequence[str] | None = None,
        background: int = 255,
    ) -> None:
        root = Path(root).expanduser()
        if not root.exists():
            raise FileNotFoundError(
                f"image folder {root} does not exist; pass root=DIR (data.root=DIR) of an existing folder"
            )
        if not root.is_dir():
            raise NotADirectoryError(
                f"image folder {root} is a file, not a folder; pass the folder that holds images"
            )
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(
                f"image_size must be a positive int (side of the square canvas), got {image_size!r}"
            )
        samples, self.classes = _scan(root, labeled, classes)
        if not samples:
            raise ValueError(
                f"image folder {root} contains no image files (extensions: {', '.join(IMAGE_EXTENSIONS)})"
            )
        self.root = root
        self.strict = strict
        self.grayscale = grayscale
        self.background = int(background)
        self._side = int(image_size)
        self.skipped: list[str] = []
        if validate:
            samples = self._drop_unreadable(samples)
        self.samples = samples
        self.labels = torch.tensor([label for _, label in samples], dtype=torch.int64)
        self._failed: set[int] = set()  # items that passed validation but failed to decode
        self._warned_runtime = False
        self.split_note: str | None = None  # how this split was carved, when the folder had none

    def select(self, indices: Tensor, note: str) -> None:
        """Keep only ``indices`` (a split carved from this folder) and record how it was carved."""
        keep = [int(i) for i in indices]
        self.samples = [self.samples[i] for i in keep]
        self.labels = self.labels[torch.as_tensor(keep, dtype=torch.long)]
        self.split_note = note

    # --- contract attributes -------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    @property
    def image_size(self) -> tuple[int, int]:
        return (self._side, self._side)

    @property
    def num_skipped(self) -> int:
        """Files dropped at construction plus items that failed later (in this process)."""
        return len(self.skipped) + len(self._failed)

    def __len__(self) -> int:
        return len(self.samples)

    # --- loading ---------------------------------------------------------------------------
    def _drop_unreadable(self, samples: list[tuple[str, int]]) -> list[tuple[str, int]]:
        kept = []
        for path, label in samples:
            err = _check_readable(path)
            if err is None:
                kept.append((path, label))
            elif self.strict:
                raise CorruptImageError(
                    f"{path}: cannot be read as an image ({type(err).__name__}: {err}); "
                    "remove or replace the file, or pass strict=False to skip unreadable images"
                ) from err
            else:
                self.skipped.append(path)
        if self.skipped:
            first = ", ".join(self.skipped[:_SHOW_FIRST]) + (
                ", ..." if len(self.skipped) > _SHOW_FIRST else ""
            )
            warnings.warn(
                f"image folder {self.root}: skipped {len(self.skipped)} unreadable image file(s) of "
                f"{len(samples)}: {first} (strict=True raises instead)",
                stacklevel=3,
            )
        if not kept:
            raise ValueError(f"image folder {self.root}: none of its {len(samples)} image files can be read")
        return kept

    def load_image(self, path: str | os.PathLike) -> Tensor:
        """Decode one file to uint8 ``[C, S, S]`` (C = 1 or 3): shorter side to S, centre crop."""
        side = self._side
        with Image.open(path) as im:
            # JPEG can decode at 1/2, 1/4, 1/8 scale; draft keeps both sides >= side, so the
            # shorter side still reaches `side`. Several times faster on large photos.
            im.draft("L" if self.grayscale else "RGB", (side, side))
            im = ImageOps.exif_transpose(im)
            im = to_8bit(im, self.grayscale, self.background)
            w, h = im.size
            crop = min(w, h)
            left, top = (w - crop) / 2, (h - crop) / 2
            im = im.resize((side, side), Image.Resampling.BICUBIC, box=(left, top, left + crop, top + crop))
            array = np.array(im, dtype=np.uint8)
        tensor = torch.from_numpy(array)
        return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()

    def __getitem__(self, index: int) -> tuple[Tensor, int, int]:
        n = len(self.samples)
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"image folder {self.root}: index {index} out of range for {n} items")
        i %= n
        # Deterministic substitution: walk forward from i to the first item that decodes.
        for step in range(n):
            j = (i + step) % n
            if j in self._failed:
                continue
            path, label = self.samples[j]
            try:
                return self.load_image(path), label, j
            except Exception as err:
                if self.strict:
                    raise CorruptImageError(
                        f"{path}: cannot be decoded ({type(err).__name__}: {err}); "
                        "remove or replace the file, or pass strict=False to skip unreadable images"
                    ) from err
                self._failed.add(j)
                if not self._warned_runtime:
                    self._warned_runtime = True
                    warnings.warn(
                        f"image folder {self.root}: {path} failed to decode ({type(err).__name__}: {err}); "
                        "substituting the next readable item; further failures are counted in num_skipped",
                        stacklevel=2,
                    )
        raise CorruptImageError(f"image folder {self.root}: no item of {n} can be decoded")

    def __repr__(self) -> str:
        return (
            f"ImageFolderDataset(root={str(self.root)!r}, n={len(self)}, image_size={self._side}, "
            f"channels={self.channels}, classes={self.num_classes}, skipped={self.num_skipped})"
        )
