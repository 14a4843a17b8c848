"""Bad tar shards are skipped and counted in one warning naming the shard, or refused with strict=True;
never silent (issue 17): truncated shards, link members, undecodable images."""

from __future__ import annotations

import io
import re
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from selfsup.data import create_dataset
from selfsup.data.image_folder import CorruptImageError
from selfsup.data.shards import ShardedImageDataset, ShardError, write_shards


def _png_bytes(value: int, size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (size, size), value).save(buf, format="PNG")
    return buf.getvalue()


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return path


def _three_samples(tmp_path: Path) -> Path:
    digits = create_dataset("digits", "train", image_size=8)
    (path,) = write_shards([digits[i] for i in range(3)], tmp_path / "shards", shard_size=3)
    return path


def _member(path: Path, name: str) -> tarfile.TarInfo:
    with tarfile.open(path) as tar:
        return tar.getmember(name)


def _cut(path: Path, at: int) -> None:
    path.write_bytes(path.read_bytes()[:at])


def _warnings_of(build) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build()
    return result, [str(w.message) for w in caught]


def test_a_shard_cut_inside_a_header_is_named_with_the_samples_read(tmp_path: Path) -> None:
    shard = _three_samples(tmp_path)
    _cut(shard, _member(shard, "000000002.png").offset + 100)  # inside the third sample's header
    ds, messages = _warnings_of(lambda: ShardedImageDataset(shard.parent, image_size=8))
    assert len(ds) == 2  # before: also 2, but silently (one third of the samples gone unnoticed)
    (message,) = messages
    assert "\n" not in message and str(shard) in message
    assert re.search(
        r"1 truncated shard.*shard-000000\.tar \(a header cut short at byte \d+ .*read 2 sample", message
    )
    assert ds.truncated == [shard]
    with pytest.raises(ShardError, match=re.escape(f"re-write or re-copy {shard}")):
        ShardedImageDataset(shard.parent, image_size=8, strict=True)
    with pytest.raises(ShardError, match="truncated"):  # strict reaches the shards through the factory
        create_dataset("shards", "train", root=str(shard.parent), image_size=8, strict=True)


def test_a_shard_cut_inside_a_member_keeps_the_complete_samples(tmp_path: Path) -> None:
    shard = _three_samples(tmp_path)
    image = _member(shard, "000000002.png")
    _cut(shard, image.offset_data + image.size // 2)
    ds, messages = _warnings_of(lambda: ShardedImageDataset(shard.parent, image_size=8))
    assert len(ds) == 2 and [ds[i][1] for i in range(2)] == [0, 1]  # before: the whole dataset refused
    assert len(messages) == 1 and "000000002.png cut short" in messages[0] and "read 2 sample" in messages[0]


def test_a_cut_between_an_image_and_its_label_drops_the_unlabelled_sample(tmp_path: Path) -> None:
    shard = _three_samples(tmp_path)
    _cut(shard, _member(shard, "000000002.cls").offset + 10)
    ds, messages = _warnings_of(lambda: ShardedImageDataset(shard.parent, image_size=8))
    assert len(ds) == 2 and -1 not in [label for *_, label in ds.index]
    assert "read 2 sample" in messages[0]


def test_a_shard_without_the_end_of_archive_block_is_reported(tmp_path: Path) -> None:
    shard = _three_samples(tmp_path)
    label = _member(shard, "000000002.cls")
    _cut(shard, label.offset_data + tarfile.BLOCKSIZE)  # ends right after the last member
    ds, messages = _warnings_of(lambda: ShardedImageDataset(shard.parent, image_size=8))
    assert len(ds) == 3 and "no end-of-archive block" in messages[0] and "read 3 sample" in messages[0]


def test_link_members_are_skipped_counted_and_never_opened(tmp_path: Path) -> None:
    def link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        return info

    shard = _tar(
        tmp_path / "s" / "shard-000000.tar",
        [
            ("000.png", _png_bytes(10)),
            ("000.cls", b"0"),
            link("001.png", "000.png", tarfile.SYMTYPE),
            link("001.cls", "/etc/hostname", tarfile.SYMTYPE),  # outside the archive
            link("002.png", "000.png", tarfile.LNKTYPE),
            link("002.cls", "../../secret.cls", tarfile.LNKTYPE),
        ],
    )
    ds, messages = _warnings_of(lambda: ShardedImageDataset(shard.parent, image_size=8))
    assert len(ds) == 1 and ds[0][1] == 0  # before: 3 items, two of them empty links
    (message,) = messages
    assert "skipped 4 symlink/hardlink member(s), never followed" in message and str(shard) in message
    assert ds.num_skipped == 4
    with pytest.raises(ShardError, match="symlink/hardlink"):
        ShardedImageDataset(shard.parent, image_size=8, strict=True)


def test_a_corrupt_image_in_a_shard_is_skipped_and_counted(tmp_path: Path) -> None:
    shard = _tar(
        tmp_path / "s" / "shard-000000.tar",
        [
            ("000.png", _png_bytes(10)),
            ("001.png", b"\x89PNG\r\n\x1a\n not really"),
            ("002.png", _png_bytes(30)),
        ],
    )
    ds = ShardedImageDataset(shard.parent, image_size=8, grayscale=True)
    with pytest.warns(UserWarning, match=re.escape(f"{shard} item 1: cannot decode the image")):
        image, _, index = ds[1]  # before: ValueError, the epoch stopped
    assert index == 2 and int(image[0, 0, 0]) == 30  # the next readable item, deterministically
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ONE warning: later failures are only counted
        assert [ds[i][2] for i in range(3)] == [0, 2, 2]
    assert ds.num_skipped == 1
    strict = ShardedImageDataset(shard.parent, image_size=8, strict=True)
    with pytest.raises(CorruptImageError, match=re.escape(f"{shard} item 1: cannot decode")):
        strict[1]


def test_a_16_bit_png_in_a_shard_is_scaled_by_its_bit_depth(tmp_path: Path) -> None:
    values = np.array([[0, 200], [255, 65535]], dtype=np.uint16).repeat(4, 0).repeat(4, 1)
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, format="PNG")
    shard = _tar(tmp_path / "s" / "shard-000000.tar", [("000.png", buf.getvalue())])
    image = ShardedImageDataset(shard.parent, image_size=8, grayscale=True)[0][0][0]
    # x * 255 / 65535: 200 and 255 are dark (1), not 200 and 255 as if the file were 8-bit
    assert [int(image[0, 0]), int(image[0, 7]), int(image[7, 0]), int(image[7, 7])] == [0, 1, 1, 255]
