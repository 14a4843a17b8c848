"""Image folders: labels from sub-folders, geometry, colour modes, corrupt files never crash an epoch."""

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from selfsup.data import CorruptImageError, ImageFolderDataset, collate_batched, dataset_to_tensors

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _save(path, color=RED, size=(20, 12), mode="RGB", fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, format=fmt)
    return path


def _truncated_jpeg(path):
    """A JPEG whose header is fine (passes verify) but whose body is cut (fails to decode)."""
    noise = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


@pytest.fixture
def labeled(tmp_path):
    root = tmp_path / "pets"
    _save(root / "dog" / "d1.png", BLUE)
    _save(root / "dog" / "sub" / "d2.JPG", BLUE, size=(30, 40), fmt="JPEG")
    _save(root / "cat" / "c1.bmp", RED, size=(9, 9))
    _save(root / "cat" / "c2.webp", RED)
    (root / "cat" / "notes.txt").write_text("not an image")
    _save(root / "cat" / ".hidden.png", BLUE)
    (root / "empty_dir").mkdir()
    return root


def test_labels_from_sorted_subfolders(labeled):
    ds = ImageFolderDataset(labeled, image_size=16)
    assert ds.classes == ["cat", "dog"] and ds.num_classes == 2
    assert len(ds) == 4 and ds.labels.tolist() == [0, 0, 1, 1]
    assert (ds.channels, ds.image_size, ds.num_skipped) == (3, (16, 16), 0)
    for i in range(len(ds)):
        image, label, index = ds[i]
        assert image.shape == (3, 16, 16) and image.dtype == torch.uint8 and index == i
        mean = image.float().mean(dim=(1, 2))
        # cat = red, dog = blue (JPEG allows small error)
        dominant = 0 if label == 0 else 2
        assert mean[dominant] > 240 and mean[1] < 15


def test_unlabeled_folder(tmp_path):
    for k in range(3):
        _save(tmp_path / f"img{k}.gif", RED, mode="RGB")
    ds = ImageFolderDataset(tmp_path, image_size=8)
    assert ds.classes == [] and ds.num_classes == 0 and ds.labels.tolist() == [-1, -1, -1]
    assert ds[1][1] == -1
    images, labels = dataset_to_tensors(ds)
    assert images.shape == (3, 3, 8, 8) and labels.tolist() == [-1, -1, -1]


def test_labeled_false_uses_every_image(labeled):
    ds = ImageFolderDataset(labeled, image_size=8, labeled=False)
    assert len(ds) == 4 and ds.num_classes == 0 and set(ds.labels.tolist()) == {-1}


def test_shorter_side_resize_then_center_crop(tmp_path):
    # 40x20 image: black left quarter, white middle half, black right quarter.
    pixels = np.zeros((20, 40), np.uint8)
    pixels[:, 10:30] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    image = ImageFolderDataset(tmp_path, image_size=10, grayscale=True)[0][0]
    # The centre crop is the white part (edge columns see a little black through the resampling
    # filter's support, as resize-then-crop would); squashing would bring in black columns.
    assert image.shape == (1, 10, 10) and int(image.min()) >= 200 and int(image[:, :, 1:-1].min()) == 255


def test_grayscale_and_alpha(tmp_path):
    _save(tmp_path / "red.png", RED)
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (0, 0, 0, 255)  # opaque black left half, transparent right half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    gray = ImageFolderDataset(tmp_path, image_size=10, grayscale=True)
    assert gray.channels == 1
    red = gray[1][0]
    assert red.shape == (1, 10, 10) and abs(int(red[0, 5, 5]) - 76) <= 1  # ITU-R 601: 0.299 * 255
    cutout = ImageFolderDataset(tmp_path, image_size=10, background=255)[0][0]
    assert int(cutout[:, :, :4].max()) == 0 and int(cutout[:, :, 6:].min()) == 255


def test_corrupt_file_skipped_with_one_warning(labeled):
    bad = labeled / "cat" / "broken.png"
    bad.write_bytes(b"this is not a png at all")
    with pytest.warns(UserWarning) as record:
        ds = ImageFolderDataset(labeled, image_size=8)
    messages = [str(w.message) for w in record if "unreadable" in str(w.message)]
    assert len(messages) == 1 and "skipped 1 unreadable" in messages[0] and str(bad) in messages[0]
    assert len(ds) == 4 and ds.skipped == [str(bad)] and ds.num_skipped == 1


def test_many_corrupt_files_one_warning_names_first_few(tmp_path):
    _save(tmp_path / "good.png")
    for k in range(7):
        (tmp_path / f"bad{k}.png").write_bytes(b"\x89PNG garbage")
    with pytest.warns(UserWarning) as record:
        ds = ImageFolderDataset(tmp_path, image_size=8)
    assert len(record) == 1
    msg = str(record[0].message)
    assert "skipped 7 unreadable image file(s) of 8" in msg and "bad4.png" in msg
    assert "bad5.png" not in msg and msg.count(", ...") == 1
    assert len(ds) == 1


def test_strict_raises_naming_the_file(labeled):
    bad = labeled / "dog" / "broken.png"
    bad.write_bytes(b"garbage")
    with pytest.raises(CorruptImageError) as info:
        ImageFolderDataset(labeled, strict=True)
    assert str(bad) in str(info.value) and "strict=False" in str(info.value)


def test_decode_failure_after_validation_substitutes_next_item(labeled):
    bad = _truncated_jpeg(labeled / "cat" / "c0_cut.jpg")  # sorts first in "cat": index 0
    ds = ImageFolderDataset(labeled, image_size=8)
    assert len(ds) == 5 and ds.samples[0][0] == str(bad)  # passed the verify() check
    with pytest.warns(UserWarning, match="failed to decode"):
        image, label, index = ds[0]
    assert index == 1 and label == 0 and torch.equal(image, ds[1][0])
    assert ds.num_skipped == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        assert ds[0][2] == 1
    strict = ImageFolderDataset(labeled, image_size=8, strict=True)
    with pytest.raises(CorruptImageError, match="c0_cut.jpg"):
        strict[0]


def test_dataloader_epoch_completes_with_corrupt_files(labeled):
    (labeled / "dog" / "garbage.png").write_bytes(b"\x00" * 64)
    _truncated_jpeg(labeled / "dog" / "cut.jpg")
    ds = ImageFolderDataset(labeled, image_size=8, validate=False)  # only the __getitem__ guard
    assert len(ds) == 6
    loader = DataLoader(ds, batch_size=4, shuffle=True, collate_fn=collate_batched)
    with pytest.warns(UserWarning, match="failed to decode"):
        batches = list(loader)
    assert sum(len(b[2]) for b in batches) == 6 and ds.num_skipped == 2
    for images, labels, idx in batches:
        assert images.shape[1:] == (3, 8, 8) and images.dtype == torch.uint8
        assert torch.equal(labels, ds.labels[idx])


@pytest.mark.multiprocess
def test_dataloader_workers_with_corrupt_file(labeled):
    _truncated_jpeg(labeled / "dog" / "cut.jpg")
    ds = ImageFolderDataset(labeled, image_size=8)
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_batched)
    idx = torch.cat([b[2] for b in loader])
    assert len(idx) == 5 and set(idx.tolist()) <= set(range(5))


def test_missing_empty_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="contains no image files"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(NotADirectoryError):
        ImageFolderDataset(tmp_path / "readme.txt")
    _save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        ImageFolderDataset(tmp_path, image_size=0)
    (tmp_path / "b.png").write_bytes(b"junk")
    (tmp_path / "a.png").write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="none of its 2 image files can be read"):
        ImageFolderDataset(tmp_path)


def test_loose_top_level_images_are_ignored_with_a_warning(labeled):
    _save(labeled / "stray.png")
    with pytest.warns(UserWarning, match="ignoring 1 image"):
        ds = ImageFolderDataset(labeled)
    assert len(ds) == 4


def test_fixed_classes_keep_ids_and_reject_unknown(labeled):
    ds = ImageFolderDataset(labeled, image_size=8, classes=["bird", "cat", "dog"])
    assert ds.labels.tolist() == [1, 1, 2, 2] and ds.num_classes == 3
    with pytest.raises(ValueError, match="not among the given classes"):
        ImageFolderDataset(labeled, classes=["cat"])
