"""A directory of image files as a dataset, decoded lazily with PIL, on a fixed square canvas.

Layout: if ``root`` has sub-folders that contain images (at any depth), each sub-folder is a
class and labels are the sorted sub-folder names (the torchvision ``ImageFolder`` layout);
otherwise every image under ``root`` is an unlabeled sample (label -1).

Each item is decoded, EXIF-rotated, alpha-composited over a flat background, converted to
RGB (or L with ``grayscale=True``), its shorter side resized to ``image_size`` and centre
cropped, so items of any size stack into batches. Augmentation happens later, batched on
the training device (DESIGN.md section 3). Default ``image_size`` 64: enough for the small
CPU backbones, ~4x less decode/transfer than 128.

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


def _scan(
    root: Path, labeled: bool | None, classes: Sequence[str] | None
) -> tuple[list[tuple[str, int]], list[str]]:
    subdirs = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    per_class = {d: _images_under(str(root / d)) for d in subdirs}
    class_dirs = [d for d in subdirs if per_class[d]]
    if labeled is None:
        labeled = bool(class_dirs)
    if not labeled:
        return [(p, -1) for p in _images_under(str(root))], []
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
            im = self._to_mode(im)
            w, h = im.size
            crop = min(w, h)
            left, top = (w - crop) / 2, (h - crop) / 2
            im = im.resize((side, side), Image.Resampling.BICUBIC, box=(left, top, left + crop, top + crop))
            array = np.array(im, dtype=np.uint8)
        tensor = torch.from_numpy(array)
        return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()

    def _to_mode(self, im: Image.Image) -> Image.Image:
        if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            # 16-bit scans: PIL's convert("L") would clip at 255, so rescale the full range instead.
            values = np.asarray(im, dtype=np.float64)
            scale = 255.0 / 65535.0 if values.max() > 255 else 1.0
            im = Image.fromarray(np.clip(values * scale, 0, 255).round().astype(np.uint8), "L")
        has_alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
        if has_alpha:
            im = im.convert("RGBA")
            canvas = Image.new("RGBA", im.size, (self.background,) * 3 + (255,))
            im = Image.alpha_composite(canvas, im)
        target = "L" if self.grayscale else "RGB"
        return im if im.mode == target else im.convert(target)

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
