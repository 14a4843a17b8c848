"""In-memory datasets: the batched ``__getitems__`` path equals the per-item path, DataLoader use."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from selfsup.data import Digits, InMemoryImageDataset, collate_batched, dataset_to_tensors, resize_uint8


@pytest.fixture
def ds():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50, 3, 6, 5), dtype=torch.uint8, generator=g)
    return InMemoryImageDataset(images, torch.arange(50) % 4, ["a", "b", "c", "d"], name="toy")


def _per_item(ds, indices):
    return collate_batched([ds[i] for i in indices])


def test_getitems_equals_per_item(ds):
    indices = [7, 0, 49, 7, -1, 12]
    batched = ds.__getitems__(indices)
    reference = _per_item(ds, indices)
    for got, want in zip(batched, reference, strict=True):
        assert torch.equal(got, want)
    images, labels, idx = batched
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64 and idx.dtype == torch.int64
    assert idx.tolist() == [7, 0, 49, 7, 49, 12]
    assert torch.equal(ds.__getitems__(torch.tensor(indices))[0], images)


def test_out_of_range(ds):
    with pytest.raises(IndexError, match="toy"):
        ds[50]
    with pytest.raises(IndexError, match="toy"):
        ds.__getitems__([0, 50])


@pytest.mark.parametrize("shuffle", [False, True])
def test_dataloader_returns_batches_covering_each_index_once(ds, shuffle):
    loader = DataLoader(ds, batch_size=16, shuffle=shuffle, collate_fn=collate_batched)
    seen = []
    for images, labels, idx in loader:
        assert images.shape[1:] == (3, 6, 5) and images.dtype == torch.uint8
        assert torch.equal(images, ds.images[idx]) and torch.equal(labels, ds.labels[idx])
        seen += idx.tolist()
    assert sorted(seen) == list(range(50)) and [len(b[2]) for b in loader] == [16, 16, 16, 2]


def test_dataloader_with_sampler_and_subset(ds):
    sampler = [3, 1, 4, 1, 5, 9, 2, 6]
    images, labels, idx = next(
        iter(DataLoader(ds, batch_size=8, sampler=sampler, collate_fn=collate_batched))
    )
    assert idx.tolist() == sampler and torch.equal(images, ds.images[sampler])
    # torch's Subset forwards __getitems__ with the mapped indices.
    sub = Subset(ds, [10, 20, 30])
    images, labels, idx = next(iter(DataLoader(sub, batch_size=3, collate_fn=collate_batched)))
    assert idx.tolist() == [10, 20, 30] and labels.tolist() == [2, 0, 2]


def test_collate_rejects_mixed_sizes():
    with pytest.raises(ValueError, match="fixed image_size"):
        collate_batched(
            [(torch.zeros(1, 4, 4, dtype=torch.uint8), 0, 0), (torch.zeros(1, 5, 5, dtype=torch.uint8), 0, 1)]
        )


def test_dataset_to_tensors_full_and_spread(ds):
    images, labels = dataset_to_tensors(ds)
    assert torch.equal(images, ds.images) and torch.equal(labels, ds.labels)
    images, labels = dataset_to_tensors(ds, max_items=5)
    picked = [0, 10, 20, 30, 40]  # evenly spaced over the whole dataset, not a prefix
    assert torch.equal(images, ds.images[picked]) and torch.equal(labels, ds.labels[picked])


def test_unlabeled_and_invalid_construction():
    images = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    ds = InMemoryImageDataset(images, None)
    assert ds.labels.tolist() == [-1] * 4 and ds.num_classes == 0 and ds.classes == []
    assert ds[2][1] == -1
    with pytest.raises(ValueError, match="uint8 tensor"):
        InMemoryImageDataset(images.float(), None)
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        InMemoryImageDataset(images, torch.zeros(3), ["a"])
    with pytest.raises(ValueError, match="2 classes"):
        InMemoryImageDataset(images, torch.tensor([0, 1, 2, 0]), ["a", "b"])
    with pytest.raises(ValueError, match="classes="):
        InMemoryImageDataset(images, torch.tensor([0, 1, 0, 0]))


def test_resize_uint8_matches_float_reference():
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8, generator=g)
    out = resize_uint8(images, 14, chunk=2)
    ref = (
        F.interpolate(images.float(), size=(14, 14), mode="bilinear", antialias=True).round().to(torch.uint8)
    )
    assert torch.equal(out, ref)
    assert resize_uint8(images, 28) is images
    with pytest.raises(ValueError, match="image_size"):
        resize_uint8(images, 0)


def test_batched_path_on_real_digits():
    ds = Digits("train")
    indices = list(range(0, len(ds), 97))
    for got, want in zip(ds.__getitems__(indices), _per_item(ds, indices), strict=True):
        assert torch.equal(got, want)
