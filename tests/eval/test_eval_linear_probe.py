"""Linear probe: sklearn reference on real digits, separable data, seeded determinism, the wd sweep."""

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression

from selfsup.eval import (
    LinearProbeResult,
    linear_probe,
    raw_pixel_features,
    train_linear_classifier,
)


def blobs(n_per_class, num_classes, dim, separation, seed):
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(99)) * separation
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    return centers[labels] + torch.randn(len(labels), dim, generator=generator), labels


def probe_objective(layer, feats, labels, weight_decay):
    """The documented objective, evaluated in the standardized space the penalty is defined in."""
    std = feats.std(0, unbiased=False)
    std = torch.where(std > 1e-6 * std.max(), std, torch.ones_like(std))
    weight_std = layer.weight * std  # the weight acting on standardized features
    loss = F.cross_entropy(layer(feats), labels) + 0.5 * weight_decay * weight_std.square().sum()
    return float(loss.detach())


def test_separable_blobs_reach_full_accuracy():
    train, train_labels = blobs(60, 5, 32, separation=3.0, seed=0)
    test, test_labels = blobs(20, 5, 32, separation=3.0, seed=1)
    result = linear_probe(train, train_labels, test, test_labels)
    assert isinstance(result, LinearProbeResult)
    assert result.test_accuracy == 1.0 and result.val_accuracy == 1.0
    # Every grid value separates the data; ties go to the largest (most regularized) weight decay.
    assert result.best_weight_decay == max(result.sweep)


def test_matches_sklearn_logistic_regression_at_same_weight_decay(digits):
    train_images, train_labels, test_images, test_labels = digits
    x, x_test = raw_pixel_features(train_images).double(), raw_pixel_features(test_images).double()
    x, x_test = x.float(), x_test.float()
    weight_decay = 1e-3
    layer = train_linear_classifier(x, train_labels, weight_decay=weight_decay, max_iter=300)

    # sklearn's objective C * sum(CE) + ||W||^2 / 2 equals ours with C = 1 / (weight_decay * N).
    mean, std = x.mean(0), x.std(0, unbiased=False)
    std = torch.where(std > 1e-6 * std.max(), std, torch.ones_like(std))
    reference = LogisticRegression(C=1.0 / (weight_decay * len(x)), max_iter=5000, tol=1e-8)
    reference.fit(((x - mean) / std).numpy(), train_labels.numpy())
    ref_proba = reference.predict_proba(((x_test - mean) / std).numpy())

    with torch.no_grad():
        proba = layer(x_test).softmax(1).numpy()
    assert np.abs(proba - ref_proba).max() < 0.02
    ours_acc = float((proba.argmax(1) == test_labels.numpy()).mean())
    ref_acc = float((ref_proba.argmax(1) == test_labels.numpy()).mean())
    assert ours_acc > 0.9 and abs(ours_acc - ref_acc) <= 0.01

    # Same objective value at both minimizers (ours is not worse than the converged reference).
    ref_layer = torch.nn.Linear(x.shape[1], 10)
    with torch.no_grad():
        coef = torch.from_numpy(reference.coef_).float()
        ref_layer.weight.copy_(coef / std)
        ref_layer.bias.copy_(torch.from_numpy(reference.intercept_).float() - coef @ (mean / std))
    ours = probe_objective(layer, x, train_labels, weight_decay)
    assert ours <= probe_objective(ref_layer, x, train_labels, weight_decay) + 1e-4


def test_digits_probe_with_sweep_is_sensible_and_close_to_sklearn_default(digits):
    train_images, train_labels, test_images, test_labels = digits
    x, x_test = raw_pixel_features(train_images), raw_pixel_features(test_images)
    result = linear_probe(x, train_labels, x_test, test_labels, seed=0)
    assert result.test_accuracy > 0.9
    assert set(result.sweep) == {0.0, 1e-4, 1e-3, 1e-2}
    assert result.best_weight_decay in result.sweep
    assert result.val_accuracy == max(result.sweep.values()) == result.sweep[result.best_weight_decay]
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    sklearn_acc = (
        LogisticRegression(max_iter=2000)
        .fit(((x - mean) / std).numpy(), train_labels.numpy())
        .score(((x_test - mean) / std).numpy(), test_labels.numpy())
    )
    assert abs(result.test_accuracy - sklearn_acc) < 0.03
    # The returned classifier works on raw features and reproduces the reported accuracy.
    with torch.no_grad():
        acc = float((result.classifier(x_test).argmax(1) == test_labels).float().mean())
    assert acc == pytest.approx(result.test_accuracy)


def test_deterministic_for_a_seed(digits):
    train_images, train_labels, test_images, test_labels = digits
    x, x_test = raw_pixel_features(train_images), raw_pixel_features(test_images)
    grid = (1e-4, 1e-2)
    first = linear_probe(x, train_labels, x_test, test_labels, weight_decays=grid, max_iter=20, seed=3)
    second = linear_probe(x, train_labels, x_test, test_labels, weight_decays=grid, max_iter=20, seed=3)
    assert first.sweep == second.sweep and first.test_accuracy == second.test_accuracy
    assert torch.equal(first.classifier.weight, second.classifier.weight)


def test_single_weight_decay_skips_the_split():
    train, train_labels = blobs(20, 3, 8, separation=3.0, seed=0)
    test, test_labels = blobs(10, 3, 8, separation=3.0, seed=1)
    result = linear_probe(train, train_labels, test, test_labels, weight_decays=[1e-3], val_fraction=0.0)
    assert result.val_accuracy is None and result.sweep == {} and result.best_weight_decay == 1e-3
    assert result.test_accuracy == 1.0


def test_sweep_picks_stronger_regularization_for_noisy_small_data():
    # 40 samples in 200 dims with weak signal: the unregularized fit memorizes noise.
    train, train_labels = blobs(20, 2, 200, separation=0.15, seed=0)
    test, test_labels = blobs(200, 2, 200, separation=0.15, seed=1)
    result = linear_probe(train, train_labels, test, test_labels, weight_decays=(0.0, 1.0), val_fraction=0.3)
    assert result.sweep[1.0] >= result.sweep[0.0]
    assert result.best_weight_decay == 1.0


def test_constant_and_duplicated_features_are_handled():
    train, train_labels = blobs(30, 3, 6, separation=3.0, seed=0)
    test, test_labels = blobs(10, 3, 6, separation=3.0, seed=1)
    pad = lambda f: torch.cat([f, f[:, :2], torch.full((len(f), 3), 7.0)], 1)  # noqa: E731
    result = linear_probe(pad(train), train_labels, pad(test), test_labels)
    assert result.test_accuracy == 1.0
    assert torch.isfinite(result.classifier.weight).all()


def test_invalid_inputs():
    x, y = torch.randn(20, 4), torch.arange(20) % 2
    with pytest.raises(ValueError, match="dimension 4 but test_feats has 3"):
        linear_probe(x, y, torch.randn(5, 3), y[:5])
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        linear_probe(x, y, x, y, weight_decays=(-1.0, 0.0))
    with pytest.raises(ValueError, match="at least one"):
        linear_probe(x, y, x, y, weight_decays=())
    with pytest.raises(ValueError, match="fraction must be in \\(0, 1\\)"):
        linear_probe(x, y, x, y, val_fraction=1.0)
    with pytest.raises(ValueError, match="non-empty"):
        linear_probe(x[:0], y[:0], x, y)
    with pytest.raises(ValueError, match="test_labels has 3 entries"):
        linear_probe(x, y, x, y[:3])


@pytest.mark.slow
def test_60k_by_512_features_train_in_well_under_a_minute():
    # Latent classes mixed by a random matrix with singular values from 1 to 1e-2: correlated,
    # ill-conditioned features like real encoder outputs (isotropic blobs would be too easy, and
    # a per-feature scaling alone would be undone by the standardization).
    generator = torch.Generator().manual_seed(0)
    q1, _ = torch.linalg.qr(torch.randn(512, 512, generator=generator))
    q2, _ = torch.linalg.qr(torch.randn(512, 512, generator=generator))
    mixing = (q1 * torch.logspace(0, -2, 512)) @ q2.T
    centers = torch.randn(10, 512, generator=generator) * 0.15

    def sample(n):
        labels = torch.randint(0, 10, (n,), generator=generator)
        return (centers[labels] + torch.randn(n, 512, generator=generator)) @ mixing, labels

    (feats, labels), (test, test_labels) = sample(60_000), sample(5_000)
    start = time.perf_counter()
    result = linear_probe(feats, labels, test, test_labels)
    seconds = time.perf_counter() - start
    assert seconds < 60, f"linear probe on 60k x 512 features took {seconds:.1f} s"
    # The Bayes classifier (nearest true center in latent space) scores 0.951 on this test set.
    assert result.test_accuracy > 0.93
