"""sklearn digits: values, the documented every-5th-per-class split, determinism."""

import numpy as np
import torch
from sklearn.datasets import load_digits

from selfsup.data import Digits
from selfsup.data.digits import digits_split_indices


def test_shapes_dtypes_and_value_scaling():
    train, test = Digits("train"), Digits("test")
    assert (len(train), len(test)) == (1433, 364)
    assert train.images.shape == (1433, 1, 8, 8) and train.images.dtype == torch.uint8
    assert (train.channels, train.image_size, train.num_classes) == (1, (8, 8), 10)
    assert train.classes == [str(d) for d in range(10)]
    assert int(train.images.min()) == 0 and int(train.images.max()) == 255
    # Values were 0..16 counts: scaled values must be exactly round(v * 255 / 16).
    allowed = {round(v * 255 / 16) for v in range(17)}
    assert set(torch.cat([train.images, test.images]).unique().tolist()) <= allowed


def test_split_is_the_documented_rule_and_matches_sklearn():
    bunch = load_digits()
    labels = torch.from_numpy(bunch.target)
    test_idx, train_idx = digits_split_indices(labels, "test"), digits_split_indices(labels, "train")
    assert set(test_idx.tolist()).isdisjoint(train_idx.tolist())
    assert sorted(test_idx.tolist() + train_idx.tolist()) == list(range(1797))
    # Reference: the first, sixth, eleventh, ... image of every class goes to test.
    expected = [i for c in range(10) for k, i in enumerate(np.flatnonzero(bunch.target == c)) if k % 5 == 0]
    assert sorted(expected) == test_idx.tolist()
    test = Digits("test")
    ref = np.round(bunch.images[test_idx.numpy()] * 255 / 16).astype(np.uint8)
    np.testing.assert_array_equal(test.images[:, 0].numpy(), ref)
    np.testing.assert_array_equal(test.labels.numpy(), bunch.target[test_idx.numpy()])
    # Stratified: every class is 20 % +- one image of the test split.
    counts = test.labels.bincount().tolist()
    assert all(abs(c - 0.2 * n) <= 1 for c, n in zip(counts, np.bincount(bunch.target), strict=True))


def test_split_is_deterministic():
    a, b = Digits("train"), Digits("train")
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_image_size_upsamples_once():
    ds = Digits("test", image_size=16)
    assert ds.images.shape == (364, 1, 16, 16) and ds.image_size == (16, 16)
    image, label, index = ds[5]
    assert image.shape == (1, 16, 16) and label == int(ds.labels[5]) and index == 5
