"""Bad data files are one line naming the file and the fix, or skipped and counted; never silent."""

import os
import re
import warnings

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
