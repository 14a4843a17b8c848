"""Bad data files are one line naming the file and the fix, or skipped and counted; never silent."""

import os
import re
import warnings

import numpy as np
import pytest
from PIL import Image

from selfsup.data import ImageFolderDataset
from selfsup.data.captions import caption_file_dataset, read_caption_table, read_coco_captions


def _png(path, color=(200, 10, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), color).save(path)
    return path


def test_a_caption_csv_without_a_caption_column_is_refused(tmp_path):
    _png(tmp_path / "a.png")
    table = tmp_path / "captions.csv"
    table.write_text("image,label\na.png,3\n")
    with pytest.raises(
        ValueError,
        match=re.escape(f"caption table {table} has columns ['image', 'label'] but no caption column"),
    ):
        read_caption_table(table)


def test_a_non_utf8_caption_table_is_named(tmp_path):
    table = tmp_path / "captions.csv"
    table.write_bytes("image,caption\na.png,un caf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=re.escape(f"caption table {table} is not UTF-8 text")):
        read_caption_table(table)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"images": [', "is not valid JSON"),
        ('{"images": {}, "annotations": []}', "needs top-level 'images' and 'annotations' lists"),
        ('{"images": [{"id": 1}], "annotations": []}', "images[0] must be an object with 'id' and a string"),
        ('{"images": [7], "annotations": []}', "images[0] must be an object"),
    ],
)
def test_malformed_coco_json_is_one_line(tmp_path, text, message):
    path = tmp_path / "captions.json"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        read_coco_captions(path)
    assert str(path) in str(info.value) and message in str(info.value) and "\n" not in str(info.value)


def test_bad_coco_annotations_are_skipped_and_counted(tmp_path):
    _png(tmp_path / "a.png")
    path = tmp_path / "captions.json"
    path.write_text(
        '{"images": [{"id": 1, "file_name": "a.png"}], "annotations": '
        '[{"image_id": 1, "caption": "a red square"}, 5, {"image_id": 1, "caption": 3}]}'
    )
    with pytest.warns(UserWarning, match="skipped 2 bad row"):
        rows = read_coco_captions(path)
    assert [c for _, c in rows] == ["a red square"]


def test_a_corrupt_image_in_a_caption_dataset_is_skipped_and_counted(tmp_path):
    _png(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    table = tmp_path / "captions.csv"
    table.write_text("image,caption\ngood.png,a red square\nbad.png,a broken file\n")
    with pytest.warns(UserWarning, match=r"skipped 1 bad row.*unreadable image .*bad.png"):
        ds = caption_file_dataset(table, image_size=8)
    assert len(ds) == 1 and ds.images_at([0]).shape == (1, 3, 8, 8)


def test_a_symlink_loop_in_an_image_folder_counts_each_image_once(tmp_path):
    root = tmp_path / "photos"
    for i in range(4):
        _png(root / "cats" / f"c{i}.png")
        _png(root / "dogs" / f"d{i}.png")
    os.symlink("..", root / "cats" / "loop")  # points back up: photos/cats/loop/cats/loop/...
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ImageFolderDataset(root, image_size=8)
    assert len(ds) == 8
    assert any("symlink loop" in str(w.message) for w in caught)


def _png16(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(values, dtype=np.uint16).repeat(4, 0).repeat(4, 1)).save(path)
    return path


def test_a_16_bit_png_is_scaled_by_its_bit_depth_not_by_its_own_maximum(tmp_path):
    _png16(tmp_path / "dark.png", [[0, 200], [255, 65535 // 257 * 257]])  # every value but one <= 255
    _png16(tmp_path / "darker.png", [[0, 200], [255, 255]])  # all <= 255: today left as if 8-bit
    ds = ImageFolderDataset(tmp_path, image_size=8, grayscale=True)
    for path, image in zip(("dark.png", "darker.png"), (ds[0][0][0], ds[1][0][0]), strict=True):
        corners = [int(image[0, 0]), int(image[0, 7]), int(image[7, 0])]
        assert corners == [0, 1, 1], path  # x * 255 / 65535, whatever else the image holds
    assert int(ds[0][0][0, 7, 7]) == 255


def test_a_link_from_one_class_folder_into_another_counts_each_file_once_where_it_lives(tmp_path):
    root = tmp_path / "photos"
    for i in range(3):
        _png(root / "cats" / f"c{i}.png")
        _png(root / "dogs" / f"d{i}.png", (10, 10, 200))
    os.symlink("../dogs/d0.png", root / "cats" / "also_a_dog.png")  # a file link
    os.symlink("../dogs", root / "cats" / "more")  # a folder link: all three dogs again
    outside = _png(tmp_path / "elsewhere" / "e.png")
    os.symlink(outside, root / "dogs" / "linked_in.png")  # lives outside every class: stays a dog
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ImageFolderDataset(root, image_size=8)
    by_class = {
        c: sorted(os.path.basename(p) for p, y in ds.samples if ds.classes[y] == c) for c in ds.classes
    }
    assert by_class == {  # before: 12 items, 5 dogs also labelled cat
        "cats": ["c0.png", "c1.png", "c2.png"],
        "dogs": ["d0.png", "d1.png", "d2.png", "linked_in.png"],
    }
    (message,) = [str(w.message) for w in caught if "same file" in str(w.message)]
    assert f"image folder {root}: 5 image(s) reached through links are the same file" in message
    assert "counted once, in the class folder where it lives" in message and "\n" not in message
    unlabeled = ImageFolderDataset(root, image_size=8, labeled=False)
    assert len(unlabeled) == 7  # each real file once without labels too


def test_a_16_bit_png_in_a_caption_dataset_is_scaled_by_its_bit_depth(tmp_path):
    _png16(tmp_path / "scan.png", [[0, 200], [255, 255]])
    table = tmp_path / "captions.csv"
    table.write_text("image,caption\nscan.png,a dark scan\n")
    image = caption_file_dataset(table, image_size=8).images_at([0])[0]
    assert image.shape == (3, 8, 8) and int(image.max()) == 1  # before: 255 (clipped as if 8-bit)
