"""IDX parsing against hand-built byte strings (header layout from the MNIST page)."""

import gzip
import struct

import numpy as np
import pytest

from selfsup.data.idx import IdxFormatError, parse_idx, read_idx, write_idx


def _idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(">" + "I" * len(dims), *dims) + payload


def test_parse_hand_built_uint8_and_big_endian_int16():
    pixels = bytes(range(24))
    arr = parse_idx(_idx_bytes(0x08, (2, 3, 4), pixels))
    assert arr.shape == (2, 3, 4) and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr.ravel(), np.arange(24))
    # 0x0102 = 258 and 0xFFFE = -2 as big-endian int16.
    arr16 = parse_idx(_idx_bytes(0x0B, (2,), b"\x01\x02\xff\xfe"))
    assert arr16.tolist() == [258, -2] and arr16.dtype.isnative
    assert arr16.flags.writeable


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_read_raw_and_gzip_files_by_content_not_name(tmp_path, compressed, name):
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.uint8)
    data = _idx_bytes(0x08, (8,), labels.tobytes())
    (tmp_path / name).write_bytes(gzip.compress(data) if compressed else data)
    np.testing.assert_array_equal(read_idx(tmp_path / name), labels)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_read_roundtrip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((5, 7, 3)) * 50).astype(dtype)
    path = tmp_path / f"x-idx3{suffix}"
    write_idx(path, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)


def test_truncated_raw_file_names_file_and_sizes(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(0x08, (10, 28, 28), bytes(10 * 28 * 28))[:-100])
    with pytest.raises(IdxFormatError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "7840" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    blob = gzip.compress(_idx_bytes(0x08, (1000,), np.random.default_rng(0).bytes(1000)))
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(IdxFormatError, match="gzip data is truncated or corrupt") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00", "too short"),
        (b"\x12\x34\x08\x01\x00\x00\x00\x01\x00", "bad IDX magic"),
        (_idx_bytes(0x07, (1,), b"\x00"), "unknown IDX data type code 0x07"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated header"),
        (_idx_bytes(0x08, (2,), b"\x00\x00\x00"), "1 unexpected bytes"),
    ],
)
def test_corrupt_headers(data, message):
    with pytest.raises(IdxFormatError, match=message):
        parse_idx(data, name="f")
