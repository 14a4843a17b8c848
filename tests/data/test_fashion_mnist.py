"""Fashion-MNIST loading: the real files (when installed), small fakes, and error messages."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.data import (
    FASHION_MNIST_CLASSES,
    FashionMNIST,
    IdxFormatError,
    load_fashion_mnist_arrays,
    write_idx,
)

REAL_ROOT = Path("/usr/share/datasets/fashion-mnist")
needs_real = pytest.mark.skipif(
    not (REAL_ROOT / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (sudo apt-get install dataset-fashion-mnist)",
)


def _write_fake(directory: Path, n_train: int = 30, n_test: int = 10, gz: bool = True) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        ext = ".gz" if gz else ""
        write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", labels)
        arrays[prefix] = (images, labels)
    return arrays


@needs_real
def test_real_fashion_mnist_shapes_counts_and_bytes():
    train, test = FashionMNIST(split="train"), FashionMNIST(split="test")
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.classes == FASHION_MNIST_CLASSES and train.num_classes == 10
    assert (train.channels, train.image_size) == (1, (28, 28))
    assert train.labels.bincount().tolist() == [6000] * 10
    assert test.labels.bincount().tolist() == [1000] * 10
    # Independent decode of the first test image: 16-byte header, then 784 pixels.
    with gzip.open(REAL_ROOT / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read(16 + 784)
    assert int.from_bytes(raw[:4], "big") == 2051
    np.testing.assert_array_equal(
        test.images[0, 0].numpy(), np.frombuffer(raw[16:], np.uint8).reshape(28, 28)
    )
    with gzip.open(REAL_ROOT / "t10k-labels-idx1-ubyte.gz") as f:
        assert test.labels[:20].tolist() == list(f.read(8 + 20)[8:])
    image, label, index = train[123]
    assert image.shape == (1, 28, 28) and image.dtype == torch.uint8
    assert isinstance(label, int) and 0 <= label < 10 and index == 123


@needs_real
def test_real_fashion_mnist_is_cached_per_split():
    a, b = load_fashion_mnist_arrays(REAL_ROOT, "test"), load_fashion_mnist_arrays(REAL_ROOT, "test")
    assert a[0] is b[0] and a[1] is b[1]
    assert FashionMNIST(split="test").images is a[0]


def test_fake_files_roundtrip_raw_and_gzip(tmp_path):
    for gz in (True, False):
        root = tmp_path / f"gz{gz}"
        arrays = _write_fake(root, gz=gz)
        ds = FashionMNIST(root=root, split="train")
        assert len(ds) == 30
        np.testing.assert_array_equal(ds.images[:, 0].numpy(), arrays["train"][0])
        np.testing.assert_array_equal(ds.labels.numpy(), arrays["train"][1])
        assert len(FashionMNIST(root=str(root), split="test")) == 10


def test_torchvision_layout_is_found(tmp_path):
    _write_fake(tmp_path / "FashionMNIST" / "raw", gz=False)
    assert len(FashionMNIST(root=tmp_path, split="test")) == 10


def test_resize_once_to_image_size(tmp_path):
    _write_fake(tmp_path)
    ds = FashionMNIST(root=tmp_path, image_size=32)
    assert ds.images.shape == (30, 1, 32, 32) and ds.image_size == (32, 32) and ds.images.dtype == torch.uint8
    native = FashionMNIST(root=tmp_path)
    # Bilinear resampling preserves the mean brightness closely.
    assert abs(ds.images.float().mean() - native.images.float().mean()) < 1.5


def test_missing_files_message_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(root=tmp_path / "nowhere")
    msg = str(info.value)
    assert str(tmp_path / "nowhere") in msg and "does not exist" in msg
    assert "train-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg
    assert "sudo apt-get install dataset-fashion-mnist" in msg
    assert "--root" in msg and "data.root=DIR" in msg
    with pytest.raises(FileNotFoundError, match="lacks the files"):
        FashionMNIST(root=tmp_path)


def test_truncated_and_mismatched_files(tmp_path):
    _write_fake(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(IdxFormatError, match="truncated"):
        FashionMNIST(root=tmp_path, split="train")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(9, np.uint8))
    with pytest.raises(IdxFormatError, match="do not match 10 images"):
        FashionMNIST(root=tmp_path, split="test")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(10, 12, np.uint8))
    with pytest.raises(IdxFormatError, match="outside 0..9"):
        FashionMNIST(root=tmp_path, split="test")


def test_bad_split(tmp_path):
    _write_fake(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        FashionMNIST(root=tmp_path, split="val")
