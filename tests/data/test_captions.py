"""Caption datasets: CSV/TSV/COCO readers, bad-row reporting, grouping by image, stamps and templated FMNIST."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from selfsup.data.batching import collate_batched
from selfsup.data.captions import (
    CaptionDataset,
    caption_file_dataset,
    create_caption_dataset,
    fashion_mnist_captions,
    read_caption_table,
    read_coco_captions,
)
from selfsup.nn.tokenizer import ClipTokenizer


def _write_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.png"
        arr = np.full((20, 30, 3), 40 * i, dtype=np.uint8)  # 30 wide, 20 high: a centre crop is taken
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


def test_csv_with_header_skips_bad_rows(tmp_path: Path) -> None:
    _write_images(tmp_path / "images", 2)
    table = tmp_path / "pairs.csv"
    table.write_text(
        "filepath,title\n"
        "images/img0.png,a dark square\n"
        "images/img1.png,a lighter square\n"
        "images/missing.png,a ghost\n"
        "images/img1.png,   \n",
        encoding="utf-8",
    )
    with pytest.warns(UserWarning, match=r"skipped 2 bad row\(s\).*missing image.*missing\.png"):
        rows = read_caption_table(table)
    assert [(p.name, c) for p, c in rows] == [("img0.png", "a dark square"), ("img1.png", "a lighter square")]


def test_tsv_without_header_and_dataset_items(tmp_path: Path) -> None:
    _write_images(tmp_path, 3)
    table = tmp_path / "pairs.tsv"
    table.write_text("img0.png\tzero, with a comma\nimg2.png\ttwo\n", encoding="utf-8")
    ds = caption_file_dataset(table, image_size=16)
    assert len(ds) == 2 and ds.num_images == 2 and ds.channels == 3
    image, tokens, index = ds[1]
    assert image.shape == (3, 16, 16) and image.dtype == torch.uint8 and int(image[0, 8, 8]) == 80
    assert torch.equal(tokens, ClipTokenizer()(["two"])[0]) and index == 1
    images, tok, idx = collate_batched(ds.__getitems__([1, 0]))  # the trainer's path: batched items
    assert images.shape == (2, 3, 16, 16) and tok.shape == (2, 77) and idx.tolist() == [1, 0]


def test_coco_json_several_captions_per_image(tmp_path: Path) -> None:
    _write_images(tmp_path / "val", 2)
    coco = {
        "images": [{"id": 7, "file_name": "img0.png"}, {"id": 9, "file_name": "img1.png"}],
        "annotations": [
            {"image_id": 7, "caption": "first of zero"},
            {"image_id": 9, "caption": "only of one"},
            {"image_id": 7, "caption": "second of zero"},
            {"image_id": 9, "caption": ""},
            {"image_id": 5, "caption": "unknown image"},
        ],
    }
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(coco))
    with pytest.warns(UserWarning, match="skipped 1 bad row"):
        rows = read_coco_captions(path, image_root=tmp_path / "val")
    assert len(rows) == 3
    # Without image_root the images are looked up beside the JSON, where none are: nothing is left.
    with (
        pytest.warns(UserWarning, match="missing image"),
        pytest.raises(ValueError, match="no captions left"),
    ):
        create_caption_dataset("captions", root=str(path), image_size=8)


def test_coco_grouping(tmp_path: Path) -> None:
    _write_images(tmp_path, 2)
    coco = {
        "images": [{"id": 1, "file_name": "img0.png"}, {"id": 2, "file_name": "img1.png"}],
        "annotations": [
            {"image_id": 1, "caption": "a"},
            {"image_id": 2, "caption": "b"},
            {"image_id": 1, "caption": "c"},
        ],
    }
    (tmp_path / "c.json").write_text(json.dumps(coco))
    ds = caption_file_dataset(tmp_path / "c.json", image_size=8)
    assert ds.num_images == 2 and ds.caption_image.tolist() == [0, 1, 0]
    assert torch.equal(ds[0][0], ds[2][0])


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_caption_table(tmp_path / "none.csv")
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(ValueError, match="'images' and 'annotations'"):
        read_coco_captions(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="root=FILE"):
        create_caption_dataset("captions")
    with pytest.raises(ValueError, match="unknown caption dataset"):
        create_caption_dataset("nope")
    with pytest.raises(ValueError, match="no captions left"):
        CaptionDataset(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), [], [], image_size=4)


def test_fashion_mnist_templated_captions_name_the_class() -> None:
    ds = fashion_mnist_captions("test", image_size=16, channels=3)
    assert len(ds) == 10000 and ds.channels == 3 and ds.eval_dataset == "fashion_mnist"
    for i in range(0, 10000, 997):
        assert ds.classes[int(ds.labels[i])] in ds.captions[i]
    assert len(set(ds.captions)) == 40  # 10 classes x 4 templates
    image, tokens, _ = ds[3]
    assert image.shape == (3, 16, 16) and torch.equal(image[0], image[2])


@pytest.mark.skipif(
    not Path("/usr/share/tuxpaint/stamps").is_dir(), reason="tuxpaint-stamps-default not installed"
)
def test_stamps_captions_are_the_txt_first_lines() -> None:
    from selfsup.data.stamps import Stamps

    with pytest.warns(UserWarning, match="empty caption"):
        ds = create_caption_dataset("stamps_captions", "test", image_size=16)
    stamps = Stamps(split="test", image_size=16)
    keep = [i for i, r in enumerate(stamps.records) if r.caption]
    assert len(ds) == len(keep) < len(stamps.records)  # the package has stamps without a caption
    assert ds.captions == [stamps.records[i].caption for i in keep]
    assert torch.equal(ds.images_at(torch.arange(len(keep))), stamps.images[keep])
    assert ds.labels.tolist() == stamps.labels[keep].tolist() and ds.classes == stamps.classes
    assert ds.eval_dataset == "stamps"


def test_concat_offsets_images_and_classes() -> None:
    from selfsup.data.captions import concat_captions, labelled_dataset_of

    a = CaptionDataset(
        torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
        ["x", "y", "z"],
        [0, 1, 1],
        4,
        labels=[0, 1, 1],
        classes=["p", "q"],
    )
    b = CaptionDataset(torch.ones(1, 3, 4, 4, dtype=torch.uint8), ["w"], [0], 4, labels=[0], classes=["r"])
    ab = concat_captions([a, b], "ab", eval_dataset=None)
    assert ab.caption_image.tolist() == [0, 1, 1, 2] and ab.labels.tolist() == [0, 1, 1, 2]
    assert ab.classes == ["p", "q", "r"] and int(ab[3][0].max()) == 1 and ab.captions[3] == "w"
    assert labelled_dataset_of("stamps-captions") == "stamps" and labelled_dataset_of("captions") is None
    assert labelled_dataset_of("fashion_mnist_captions") == "fashion_mnist"
