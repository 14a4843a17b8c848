"""create_dataset / list_datasets: names, splits, folder split sub-directories, errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from selfsup.data import Digits, FashionMNIST, ImageFolderDataset, create_dataset, list_datasets, write_idx


def _img(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (12, 12), value).save(path)


def test_list_and_unknown_name():
    assert "video_pairs" in list_datasets() and "stamps_captions" in list_datasets()
    with pytest.raises(
        ValueError, match="unknown dataset 'cifar10'; available datasets: captions, digits, fashion_mnist"
    ):
        create_dataset("cifar10")


def test_digits_and_contract_attributes():
    ds = create_dataset("digits", split="test", image_size=16)
    assert isinstance(ds, Digits) and len(ds) == 364 and ds.image_size == (16, 16)
    image, label, index = ds[0]
    assert image.shape == (ds.channels, 16, 16) and 0 <= label < ds.num_classes == len(ds.classes)
    with pytest.raises(ValueError, match="takes no root"):
        create_dataset("digits", root="/tmp")
    with pytest.raises(TypeError, match="no extra arguments"):
        create_dataset("digits", grayscale=True)


def test_fashion_mnist_by_alias_with_root(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((4, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(4, dtype=np.uint8))
    ds = create_dataset("Fashion-MNIST", split="test", root=str(tmp_path))
    assert (
        isinstance(ds, FashionMNIST) and ds.labels.tolist() == [0, 1, 2, 3] and ds.classes[0] == "T-shirt/top"
    )
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        create_dataset("fashion_mnist", split="train", root=str(tmp_path))


def test_folder_requires_root_and_rejects_unknown_kwargs(tmp_path):
    with pytest.raises(ValueError, match="needs root=DIR"):
        create_dataset("folder")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_dataset("folder", root=str(tmp_path / "nope"))
    _img(tmp_path / "a.png")
    with pytest.raises(TypeError, match="unknown arguments \\['colour'\\]; valid: .*grayscale"):
        create_dataset("folder", root=str(tmp_path), colour=True)


def test_folder_default_size_and_held_out_test_split(tmp_path):
    for i in range(10):
        _img(tmp_path / "x" / f"{i}.png", i)
        _img(tmp_path / "y" / f"{i}.png", 100 + i)
    ds = create_dataset("image_folder", root=str(tmp_path), grayscale=True)
    assert isinstance(ds, ImageFolderDataset) and ds.image_size == (64, 64) and ds.channels == 1
    assert ds.classes == ["x", "y"]
    test = create_dataset("folder", split="test", root=str(tmp_path), image_size=8)
    # 20 % of each class is held out; train and test never share an image.
    assert len(ds) == 16 and len(test) == 4 and test.labels.tolist() == [0, 0, 1, 1]
    assert not {p for p, _ in ds.samples} & {p for p, _ in test.samples}
    assert "held out as test" in test.split_note and "held out" in ds.split_note
    again = create_dataset("folder", split="test", root=str(tmp_path), image_size=8)
    assert again.samples == test.samples


def test_unlabelled_folder_without_test_split_is_one_pool(tmp_path):
    _img(tmp_path / "a.png")
    _img(tmp_path / "b.png")
    with pytest.warns(UserWarning, match="no 'test' sub-folder and no class labels"):
        test = create_dataset("folder", split="test", root=str(tmp_path), image_size=8)
    assert len(test) == 2 and test.split_note is None


def test_folder_too_small_to_hold_out_a_test_split(tmp_path):
    _img(tmp_path / "x" / "a.png")
    _img(tmp_path / "y" / "b.png")
    with pytest.raises(ValueError, match="too few images per class .* add a test/ sub-folder"):
        create_dataset("folder", split="test", root=str(tmp_path), image_size=8)


def test_folder_split_subdirs_share_train_class_ids(tmp_path):
    for cls in ("ant", "bee", "cow"):
        _img(tmp_path / "train" / cls / "1.png")
    _img(tmp_path / "test" / "bee" / "1.png", 10)
    _img(tmp_path / "test" / "cow" / "1.png", 20)
    train = create_dataset("folder", split="train", root=str(tmp_path), image_size=8)
    test = create_dataset("folder", split="test", root=str(tmp_path), image_size=8, strict=True)
    assert train.classes == test.classes == ["ant", "bee", "cow"]
    # Without the shared class list "bee" would get id 0 in the test split.
    assert test.labels.tolist() == [1, 2] and test.strict
    assert torch.equal(test[0][0], torch.full((3, 8, 8), 10, dtype=torch.uint8))
    with pytest.raises(ValueError, match="no 'val' one"):
        create_dataset("folder", split="val", root=str(tmp_path))
