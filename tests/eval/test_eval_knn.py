"""Weighted kNN (Wu et al. 2018 / DINO) against a naive per-query reference and invariants."""

import math

import pytest
import torch

from selfsup.eval import knn_accuracy, knn_classify


def naive_knn(train, train_labels, test, k, temperature, exclude_self=False):
    """Explicit loop: cosine similarities, full sort, exp(sim / T) votes, argmax (lowest class on ties)."""
    train = train.double() / train.double().norm(dim=1, keepdim=True)
    test = test.double() / test.double().norm(dim=1, keepdim=True)
    preds = []
    for i, query in enumerate(test):
        sims = [(float(query @ train[j]), j) for j in range(len(train)) if not (exclude_self and j == i)]
        sims.sort(key=lambda s: -s[0])
        votes: dict[int, float] = {}
        for sim, j in sims[:k]:
            label = int(train_labels[j])
            votes[label] = votes.get(label, 0.0) + math.exp(sim / temperature)
        best = max(votes.values())
        preds.append(min(c for c, v in votes.items() if v == best))
    return torch.tensor(preds)


def blobs(n_per_class, num_classes, dim, spread, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(num_classes, dim, generator=generator) * 5
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    feats = centers[labels] + spread * torch.randn(len(labels), dim, generator=generator)
    return feats, labels


@pytest.mark.parametrize("k, temperature", [(1, 0.07), (5, 0.07), (20, 0.07), (20, 0.5), (50, 1.0)])
def test_matches_naive_reference(k, temperature):
    generator = torch.Generator().manual_seed(k)
    train = torch.randn(120, 8, generator=generator)
    labels = torch.randint(0, 5, (120,), generator=generator)
    test = torch.randn(40, 8, generator=generator)
    preds = knn_classify(train, labels, test, k=k, temperature=temperature)
    assert preds.dtype == torch.int64 and preds.shape == (40,)
    assert torch.equal(preds, naive_knn(train, labels, test, k, temperature))


def test_scale_invariant_because_cosine():
    generator = torch.Generator().manual_seed(1)
    train, test = torch.randn(80, 6, generator=generator), torch.randn(30, 6, generator=generator)
    labels = torch.randint(0, 4, (80,), generator=generator)
    scales = torch.rand(80, 1, generator=generator) * 10 + 0.1
    assert torch.equal(knn_classify(train, labels, test), knn_classify(train * scales, labels, test * 3))


def test_perfect_on_well_separated_clusters():
    train, train_labels = blobs(30, 6, 16, spread=0.3, seed=0)
    test, test_labels = blobs(10, 6, 16, spread=0.3, seed=0)
    test = test + 0.1 * torch.randn_like(test)
    assert knn_accuracy(train, train_labels, test, test_labels) == 1.0


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_chunked_equals_unchunked(chunk_size):
    generator = torch.Generator().manual_seed(2)
    train, test = torch.randn(150, 10, generator=generator), torch.randn(70, 10, generator=generator)
    labels = torch.randint(0, 7, (150,), generator=generator)
    full = knn_classify(train, labels, test, chunk_size=10_000)
    assert torch.equal(knn_classify(train, labels, test, chunk_size=chunk_size), full)
    full_loo = knn_classify(train, labels, train, chunk_size=10_000, exclude_self=True)
    assert torch.equal(knn_classify(train, labels, train, chunk_size=chunk_size, exclude_self=True), full_loo)


def test_exclude_self_is_leave_one_out():
    generator = torch.Generator().manual_seed(3)
    feats = torch.randn(60, 5, generator=generator)
    labels = torch.randint(0, 3, (60,), generator=generator)
    # Without exclusion every sample is its own nearest neighbour: 1-NN on the train set is perfect
    # even for random labels. Leave-one-out removes exactly that.
    assert knn_accuracy(feats, labels, feats, labels, k=1) == 1.0
    loo = knn_classify(feats, labels, feats, k=5, exclude_self=True, chunk_size=16)
    assert torch.equal(loo, naive_knn(feats, labels, feats, 5, 0.07, exclude_self=True))
    assert knn_accuracy(feats, labels, feats, labels, k=1, exclude_self=True) < 0.7


def test_k_larger_than_train_set_is_clamped_with_warning():
    generator = torch.Generator().manual_seed(4)
    train, test = torch.randn(12, 4, generator=generator), torch.randn(9, 4, generator=generator)
    labels = torch.randint(0, 3, (12,), generator=generator)
    with pytest.warns(UserWarning, match="k=50 exceeds the 12"):
        clamped = knn_classify(train, labels, test, k=50)
    assert torch.equal(clamped, knn_classify(train, labels, test, k=12))
    with pytest.warns(UserWarning, match="11 available"):
        knn_classify(train, labels, train, k=12, exclude_self=True)


def test_tiny_temperature_is_stable_and_tends_to_1nn():
    generator = torch.Generator().manual_seed(5)
    train, test = torch.randn(100, 8, generator=generator), torch.randn(50, 8, generator=generator)
    labels = torch.randint(0, 4, (100,), generator=generator)
    # exp(1 / 1e-4) overflows float32 (and float64); the max-shifted weights do not.
    preds = knn_classify(train, labels, test, k=20, temperature=1e-4)
    assert torch.equal(preds, knn_classify(train, labels, test, k=1))


def test_accuracy_equals_mean_of_correct_predictions_and_num_classes():
    generator = torch.Generator().manual_seed(6)
    train, test = torch.randn(90, 6, generator=generator), torch.randn(45, 6, generator=generator)
    train_labels = torch.randint(0, 3, (90,), generator=generator, dtype=torch.int32)
    test_labels = torch.randint(0, 3, (45,), generator=generator)
    preds = knn_classify(train, train_labels, test, k=7, num_classes=10)
    assert int(preds.max()) < 3
    acc = knn_accuracy(train, train_labels, test, test_labels, k=7)
    assert acc == pytest.approx(float((preds == test_labels).float().mean()))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k=0), "k must be >= 1"),
        (dict(temperature=0.0), "temperature must be > 0"),
        (dict(temperature=-1.0), "temperature must be > 0"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(num_classes=2), "num_classes=2"),
        (dict(exclude_self=True), "exclude_self=True needs"),
    ],
)
def test_invalid_arguments(kwargs, match):
    train, test = torch.randn(10, 4), torch.randn(5, 4)
    labels = torch.arange(10) % 4
    with pytest.raises(ValueError, match=match):
        knn_classify(train, labels, test, **kwargs)


def test_invalid_inputs():
    train, test, labels = torch.randn(10, 4), torch.randn(5, 4), torch.arange(10) % 3
    with pytest.raises(ValueError, match="train_labels has 9 entries"):
        knn_classify(train, labels[:9], test)
    with pytest.raises(ValueError, match="train_feats is empty"):
        knn_classify(torch.randn(0, 4), torch.zeros(0, dtype=torch.long), test)
    with pytest.raises(ValueError, match="dimension 4 but test_feats has 3"):
        knn_classify(train, labels, torch.randn(5, 3))
    with pytest.raises(ValueError, match="2-D"):
        knn_classify(train.view(10, 2, 2), labels, test)
    with pytest.raises(ValueError, match="integer"):
        knn_classify(train, labels.float(), test)
    with pytest.raises(ValueError, match="non-negative"):
        knn_classify(train, labels - 1, test)
    with pytest.raises(ValueError, match="test_labels has 4 entries"):
        knn_accuracy(train, labels, test, labels[:4])
