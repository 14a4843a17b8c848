"""Photo-stamp loader: records, cut-out geometry, alpha compositing, stratified split, real package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from selfsup.data import create_dataset
from selfsup.data.stamps import (
    STAMPS_ROOT,
    Stamps,
    backgrounds,
    composite,
    find_stamps,
    load_rgba,
    stratified_split,
)


def _stamp(path: Path, size: tuple[int, int], color: tuple[int, int, int], caption: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgba = np.zeros((size[1], size[0], 4), np.uint8)
    rgba[..., :3] = color
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(path)
    if caption is not None:
        path.with_suffix(".txt").write_text(f"{caption}\nfr.utf8=autre langue\n", encoding="utf-8")


@pytest.fixture
def stamp_root(tmp_path: Path) -> Path:
    for i in range(5):
        _stamp(tmp_path / "animals" / "pets" / f"cat{i}.png", (40, 20), (200, 10, 10), f"A cat number {i}.")
    for i in range(3):
        _stamp(tmp_path / "food" / f"apple{i}.png", (10, 30), (10, 200, 10), None if i == 0 else "An apple.")
    (tmp_path / "stray.png").write_bytes(b"")  # not in a category folder: ignored
    return tmp_path


def test_find_stamps_reads_english_caption_and_top_category(stamp_root: Path) -> None:
    records = find_stamps(stamp_root)
    assert len(records) == 8
    assert [r.path for r in records] == sorted(r.path for r in records)
    cats = {r.path.name: r.category for r in records}
    assert cats["cat3.png"] == "animals" and cats["apple1.png"] == "food"
    caps = {r.path.name: r.caption for r in records}
    assert caps["cat3.png"] == "A cat number 3."
    assert caps["apple0.png"] == ""  # no .txt: empty caption, the caller decides


def test_missing_root_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tuxpaint-stamps-default"):
        find_stamps(tmp_path / "nope")


def test_load_rgba_keeps_aspect_and_centres(stamp_root: Path) -> None:
    rgba = load_rgba(stamp_root / "animals" / "pets" / "cat0.png", 16)  # 40x20 -> 16x8
    assert rgba.shape == (4, 16, 16) and rgba.dtype == torch.uint8
    opaque_rows = (rgba[3] > 0).any(dim=1).nonzero().flatten()
    assert opaque_rows.tolist() == list(range(4, 12))
    assert bool((rgba[3] > 0).any(dim=0).all())  # full width
    assert rgba[0, 8, 8] == 200 and rgba[1, 8, 8] == 10


def test_load_rgba_corrupt_file_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        load_rgba(bad, 8)


def test_composite_matches_alpha_blend_formula() -> None:
    g = torch.Generator().manual_seed(0)
    rgba = torch.randint(0, 256, (2, 4, 5, 5), generator=g, dtype=torch.uint8)
    bg = torch.randint(0, 256, (2, 3, 5, 5), generator=g, dtype=torch.uint8)
    a = rgba[:, 3:].double() / 255
    expected = (rgba[:, :3].double() * a + bg.double() * (1 - a)).round()
    assert torch.equal(composite(rgba, bg).double(), expected)
    opaque = rgba.clone()
    opaque[:, 3] = 255
    assert torch.equal(composite(opaque, bg), opaque[:, :3])
    with pytest.raises(ValueError, match="rgba"):
        composite(bg, bg)


def test_random_backgrounds_are_seeded_gradients() -> None:
    a, b = backgrounds(3, 8, "random", seed=1), backgrounds(3, 8, "random", seed=1)
    assert torch.equal(a, b) and not torch.equal(a, backgrounds(3, 8, "random", seed=2))
    assert torch.equal(a[:, :, 3], a[:, :, 3, :1].expand(3, 3, 8))  # constant along each row
    assert torch.equal(backgrounds(1, 4, "white"), torch.full((1, 3, 4, 4), 255, dtype=torch.uint8))
    with pytest.raises(ValueError, match="background"):
        backgrounds(1, 4, "plaid")


def test_stratified_split_is_disjoint_complete_and_per_class() -> None:
    cats = ["a"] * 10 + ["b"] * 5 + ["c"]
    train, test = (stratified_split(cats, s, 0.2, seed=0) for s in ("train", "test"))
    assert sorted(train + test) == list(range(16)) and not set(train) & set(test)
    assert [cats[i] for i in test].count("a") == 2 and [cats[i] for i in test].count("b") == 1
    assert 15 in train  # a singleton class stays in train
    assert test == stratified_split(cats, "test", 0.2, seed=0)
    with pytest.raises(ValueError, match="split"):
        stratified_split(cats, "val", 0.2, seed=0)


def test_dataset_items_labels_and_masks(stamp_root: Path) -> None:
    train = create_dataset("stamps", "train", root=str(stamp_root), image_size=12, background="gray")
    test = create_dataset("stamps", "test", root=str(stamp_root), image_size=12, background="gray")
    assert isinstance(train, Stamps) and train.classes == ["animals", "food"]
    assert len(train) + len(test) == 8 and len(test) == 2
    image, label, index = train[0]
    assert image.shape == (3, 12, 12) and image.dtype == torch.uint8
    assert train.classes[label] == train.records[index].category
    assert train.masks.shape == (len(train), 12, 12)
    outside = train.masks[0] == 0
    assert bool((image[:, outside] == 128).all())  # transparent pixels show the gray canvas
    with pytest.raises(TypeError, match="unknown arguments"):
        create_dataset("stamps", root=str(stamp_root), grayscale=True)


def test_stamps_gradient_is_the_same_stamps_on_varying_backgrounds(stamp_root: Path) -> None:
    plain = create_dataset("stamps", "train", root=str(stamp_root), image_size=12)
    varied = create_dataset("stamps_gradient", "train", root=str(stamp_root), image_size=12)
    assert torch.equal(varied.labels, plain.labels) and torch.equal(varied.masks, plain.masks)
    outside = plain.masks == 0  # [N, 12, 12]: where the canvas shows
    assert torch.equal(varied.images[0][:, ~outside[0]], plain.images[0][:, ~outside[0]])  # same object
    canvases = [varied.images[i][:, outside[i]].float().mean(1) for i in range(len(varied))]
    assert all((plain.images[i][:, outside[i]] == 255).all() for i in range(len(plain)))
    assert min(float((a - b).abs().max()) for a, b in zip(canvases[:-1], canvases[1:], strict=True)) > 0
    with pytest.raises(TypeError, match="unknown arguments"):
        create_dataset("stamps_gradient", root=str(stamp_root), background="white")


@pytest.mark.skipif(
    not STAMPS_ROOT.is_dir(), reason="tuxpaint-stamps-default not installed (scripts/setup.sh)"
)
def test_real_stamps_package() -> None:
    train, test = Stamps(split="train", image_size=32), Stamps(split="test", image_size=32)
    assert len(train) + len(test) == len(find_stamps()) > 700
    assert train.num_classes == 17 and set(test.labels.tolist()) <= set(train.labels.tolist())
    assert sum(bool(c) for c in train.captions) > 0.9 * len(train)
    # Real photos: colorful, not constant.
    assert float(train.images.float().std()) > 20
