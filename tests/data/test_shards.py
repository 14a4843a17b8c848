"""Sharded tar datasets: exact round trip, labels, worker decoding, clear errors."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from selfsup.data import collate_batched, create_dataset
from selfsup.data.shards import ShardedImageDataset, write_shards


@pytest.fixture
def shard_dir(tmp_path: Path) -> tuple[Path, list]:
    digits = create_dataset("digits", "train", image_size=8)
    items = [digits[i] for i in range(50)]
    paths = write_shards(items, tmp_path / "train", shard_size=16, classes=digits.classes)
    assert [p.name for p in paths] == [f"shard-00000{i}.tar" for i in range(4)]
    return tmp_path, items


def test_round_trip_is_exact_with_labels_and_classes(shard_dir) -> None:
    root, items = shard_dir
    ds = ShardedImageDataset(root / "train", image_size=8, grayscale=True)
    assert len(ds) == 50 and ds.channels == 1 and ds.num_classes == 10
    for i in (0, 15, 16, 49):
        image, label, index = ds[i]
        assert torch.equal(image, items[i][0]) and label == items[i][1] and index == i
    with pytest.raises(IndexError, match="out of range"):
        ds[50]


def test_factory_and_workers_decode_the_same_batches(shard_dir) -> None:
    root, _ = shard_dir
    ds = create_dataset("shards", "train", root=str(root), image_size=12)
    assert ds.image_size == (12, 12) and ds.channels == 3
    order = list(range(50))
    single = list(DataLoader(ds, batch_size=10, sampler=order, collate_fn=collate_batched))
    multi = list(DataLoader(ds, batch_size=10, sampler=order, collate_fn=collate_batched, num_workers=2))
    for a, b in zip(single, multi, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert single[0][0].shape == (10, 3, 12, 12)


def test_errors_name_the_shard_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no .tar shards"):
        ShardedImageDataset(tmp_path)
    bad = tmp_path / "shard-000000.tar"
    with tarfile.open(bad, "w") as tar:
        payload = b"not an image"
        info = tarfile.TarInfo("000000001.png")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    ds = ShardedImageDataset(tmp_path, image_size=8, strict=True)
    assert ds.index[0][3] == -1  # no .cls member: unlabeled
    with pytest.raises(ValueError, match="shard-000000.tar item 0"):
        ds[0]
    (tmp_path / "gz").mkdir()
    with tarfile.open(tmp_path / "gz" / "a.tar", "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("x.cls"), io.BytesIO(b""))
    with pytest.raises(ValueError, match="uncompressed tar"):
        ShardedImageDataset(tmp_path / "gz")
