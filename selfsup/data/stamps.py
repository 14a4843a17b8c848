"""Real photo cut-outs from the Debian package ``tuxpaint-stamps-default`` (DESIGN.md section 6).

``/usr/share/tuxpaint/stamps/<category>/**/<name>.png`` are ~800 real photos with an alpha
channel that is the object's exact mask; the first line of the sibling ``<name>.txt`` is an
English caption. They are the library's real *color* data: colorization and split-brain
need color, CLIP needs captions, the video demo needs exact masks.

- ``find_stamps(root)`` lists ``StampRecord(path, caption, category)`` sorted by path.
- ``load_rgba(path, size)`` reads one cut-out as uint8 ``[4, size, size]``: the object is
  scaled (aspect kept) so its longer side fills ``size`` and centred; padding is transparent.
- ``composite(rgba, background)`` alpha-blends cut-outs onto uint8 RGB backgrounds.
- ``Stamps`` is the labelled dataset (label = top-level category folder, 17 classes) of RGB
  composites on a plain canvas or on a seeded random two-colour gradient, with a fixed
  class-stratified train/test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from selfsup.data.in_memory import InMemoryImageDataset

STAMPS_ROOT = Path("/usr/share/tuxpaint/stamps")
BACKGROUNDS = ("white", "gray", "random")
_CACHE: dict[tuple, tuple[Tensor, list[StampRecord]]] = {}


@dataclass(frozen=True)
class StampRecord:
    """One stamp: its PNG, its English caption ("" when the package has none) and its category."""

    path: Path
    caption: str
    category: str


def _caption(png: Path) -> str:
    txt = png.with_suffix(".txt")
    if not txt.is_file():
        return ""
    with open(txt, encoding="utf-8", errors="replace") as f:
        return f.readline().strip()


def find_stamps(root: str | Path | None = None) -> list[StampRecord]:
    """Every stamp under ``root`` (default ``STAMPS_ROOT``), sorted by path.

    The category is the first folder below ``root`` ("animals", "food", ...).
    """
    root = Path(root) if root is not None else STAMPS_ROOT
    if not root.is_dir():
        raise FileNotFoundError(
            f"photo stamps not found at {root}; install them with "
            "`apt-get install tuxpaint-stamps-default` (scripts/setup.sh does) or pass root=DIR"
        )
    records = [
        StampRecord(png, _caption(png), png.relative_to(root).parts[0])
        for png in sorted(root.rglob("*.png"))
        if len(png.relative_to(root).parts) > 1
    ]
    if not records:
        raise FileNotFoundError(
            f"no stamp PNGs in category folders under {root} (expected <category>/**/*.png)"
        )
    return records


def load_rgba(path: str | Path, size: int) -> Tensor:
    """One cut-out as uint8 ``[4, size, size]`` (RGB + alpha), aspect ratio kept, centred."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    try:
        with Image.open(path) as im:
            im = im.convert("RGBA")
    except (OSError, SyntaxError) as e:
        raise ValueError(f"cannot read stamp image {path}: {e}") from e
    w, h = im.size
    scale = size / max(w, h)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Pillow resizes RGBA with premultiplied alpha, so transparent pixels do not bleed dark fringes.
    im = im.resize(new, Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    canvas.paste(im, ((size - new[0]) // 2, (size - new[1]) // 2))
    return torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1).contiguous()


def composite(rgba: Tensor, background: Tensor) -> Tensor:
    """Alpha-blend uint8 ``[..., 4, H, W]`` cut-outs over uint8 ``[..., 3, H, W]`` backgrounds."""
    if rgba.dtype != torch.uint8 or rgba.shape[-3] != 4:
        raise ValueError(f"rgba must be uint8 [..., 4, H, W], got {rgba.dtype} {tuple(rgba.shape)}")
    if background.dtype != torch.uint8 or background.shape[-3] != 3:
        raise ValueError(
            f"background must be uint8 [..., 3, H, W], got {background.dtype} {tuple(background.shape)}"
        )
    alpha = rgba[..., 3:, :, :].float() / 255.0
    out = rgba[..., :3, :, :].float() * alpha + background.float() * (1.0 - alpha)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def backgrounds(n: int, size: int, kind: str, seed: int = 0) -> Tensor:
    """``n`` uint8 ``[3, size, size]`` canvases: plain white / gray, or random vertical two-colour gradients."""
    if kind not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {kind!r}")
    if kind != "random":
        value = 255 if kind == "white" else 128
        return torch.full((n, 3, size, size), value, dtype=torch.uint8)
    g = torch.Generator().manual_seed(seed)
    top, bottom = torch.rand(2, n, 3, 1, 1, generator=g) * 255
    t = torch.linspace(0, 1, size).view(1, 1, size, 1)
    return (top * (1 - t) + bottom * t).expand(n, 3, size, size).round().to(torch.uint8)


def stratified_split(categories: list[str], split: str, test_fraction: float, seed: int) -> list[int]:
    """Positions of ``split`` ("train" / "test"): per category a seeded shuffle, the first
    ``round(n * test_fraction)`` (at least 1 when n >= 2) go to test."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for category in sorted(set(categories)):
        members = [i for i, c in enumerate(categories) if c == category]
        order = [members[j] for j in torch.randperm(len(members), generator=g).tolist()]
        n_test = max(1, round(len(members) * test_fraction)) if len(members) >= 2 else 0
        chosen += order[:n_test] if split == "test" else order[n_test:]
    return sorted(chosen)


def _load_all(root: Path, size: int) -> tuple[Tensor, list[StampRecord]]:
    key = (str(root.resolve()), size)
    if key not in _CACHE:
        records = find_stamps(root)
        _CACHE[key] = (torch.stack([load_rgba(r.path, size) for r in records]), records)
    return _CACHE[key]


class Stamps(InMemoryImageDataset):
    """Labelled RGB composites of the photo stamps; items ``(uint8 [3, S, S], category id, index)``.

    root:          the stamps folder (default ``STAMPS_ROOT``).
    split:         "train" or "test": a fixed, class-stratified split (``test_fraction`` per category).
    image_size:    side S (default 64; the cut-outs are 100-1200 px photos).
    background:    "white" (plain canvas, default), "gray", or "random" (a seeded two-colour gradient
                   per stamp, so the background carries no class information).
    Attributes:    ``classes`` (sorted categories), ``records`` and ``captions`` aligned with indices,
                   ``masks`` uint8 ``[N, S, S]`` alpha of each cut-out (the exact object mask).
    """

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "train",
        image_size: int | None = None,
        background: str = "white",
        test_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        size = 64 if image_size is None else int(image_size)
        rgba, records = _load_all(Path(root) if root is not None else STAMPS_ROOT, size)
        keep = stratified_split([r.category for r in records], split, test_fraction, seed)
        classes = sorted({r.category for r in records})
        rgba = rgba[keep]
        self.records = [records[i] for i in keep]
        self.captions = [r.caption for r in self.records]
        self.masks = rgba[:, 3].clone()
        # Seed the canvases by position in the full list, so a stamp keeps its background across splits.
        canvas = backgrounds(len(records), size, background, seed)[keep]
        labels = torch.tensor([classes.index(r.category) for r in self.records], dtype=torch.int64)
        super().__init__(composite(rgba, canvas), labels, classes, name="stamps")
