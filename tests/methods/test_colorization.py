"""Colorization: L-only encoder on RGB input, rebalanced soft cross-entropy, prior estimation, learning."""

from __future__ import annotations

import pytest
import torch
from method_training import train_steps
from real_photos import photos

from selfsup.backbones import create_backbone
from selfsup.methods.colorization import (
    Colorization,
    ColorizationConfig,
    constant_prediction_ce,
    rebalanced_soft_cross_entropy,
)
from selfsup.registry import create_method
from selfsup.types import Progress
from selfsup.views.lab import normalize_l, rgb_to_lab


def _method(**kw) -> Colorization:
    bb = create_backbone("resnet_small", in_chans=3, image_size=16, width=4, depths=[1, 1, 1])
    return create_method("colorization", bb, ColorizationConfig(decoder_width=16, **kw))


def test_encoder_takes_rgb_and_sees_only_lightness() -> None:
    m = _method().eval()
    enc = m.encoder
    assert enc.in_chans == 3 and enc.branches[0].in_chans == 1 and enc.num_features == 16
    assert m.normalization() == ([0.0] * 3, [1.0] * 3)
    x = photos(2).float() / 255
    lab = rgb_to_lab(x)
    torch.testing.assert_close(enc(x), enc.branches[0](normalize_l(lab[:, :1])))
    # a color change at equal lightness leaves the features unchanged: rotate the ab plane by 180 deg
    from selfsup.views.lab import lab_to_rgb

    swapped = lab_to_rgb(torch.cat([lab[:, :1], -lab[:, 1:] * 0.2], dim=1))
    torch.testing.assert_close(rgb_to_lab(swapped)[:, :1], lab[:, :1], atol=2e-3, rtol=0)
    torch.testing.assert_close(enc(swapped), enc(x), atol=2e-3, rtol=1e-3)


def test_rebalanced_soft_cross_entropy_matches_naive_sum() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 3, 3, generator=g)
    z = torch.rand(2, 5, 3, 3, generator=g)
    z = z / z.sum(1, keepdim=True)
    w = torch.rand(2, 3, 3, generator=g)
    naive = 0.0
    for b in range(2):
        for i in range(3):
            for j in range(3):
                logp = logits[b, :, i, j].log_softmax(0)
                naive += -float(w[b, i, j] * (z[b, :, i, j] * logp).sum())
    assert abs(float(rebalanced_soft_cross_entropy(logits, z, w)) - naive / 18) < 1e-5
    # the best constant prediction's cross-entropy is attained by predicting the mean distribution
    mean_logits = z.mean((0, 2, 3)).log().view(1, 5, 1, 1).expand_as(logits)
    torch.testing.assert_close(constant_prediction_ce(z), rebalanced_soft_cross_entropy(mean_logits, z, None))


def test_prior_is_estimated_from_the_first_batches_only() -> None:
    m = _method(prior_batches=2)
    g = torch.Generator().manual_seed(0)
    imgs = photos(4)
    for step in range(3):
        m.training_step(m.make_batch(imgs, generator=g), Progress(step, 3))
        assert int(m.prior_batches_seen) == min(step + 1, 2)
    assert (
        float(m.prior_counts.sum()) == 2 * 4 * 4 * 4
    )  # two batches of 4 images at 4x4 output (16 px, stride 4)
    assert "prior_counts" in m.state_dict()  # saved in checkpoints: exact resume


@pytest.mark.parametrize("loss", ["classification", "regression"])
def test_learns_beyond_the_trivial_predictor(loss: str) -> None:
    torch.manual_seed(0)
    m = _method(loss=loss, rebalance=False)
    imgs = photos(12)
    out = train_steps(m, imgs, 40)
    if loss == "classification":
        assert float(out.metrics["ce"]) < float(out.metrics["const_ce"])
        assert m.decoder.head.out_channels == 261
    else:
        assert m.decoder.head.out_channels == 2
    assert float(out.metrics["ab_rmse"]) < float(out.metrics["gray_rmse"])


def test_grayscale_data_is_refused_with_the_fix() -> None:
    bb = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1, 1])
    with pytest.raises(ValueError, match="stamps"):
        create_method("colorization", bb, ColorizationConfig())
    with pytest.raises(ValueError, match="method.loss"):
        _method(loss="l1")


def test_constant_prediction_is_the_weighted_mean_and_optimal() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.rand(2, 4, 3, 3, generator=g)
    z = z / z.sum(1, keepdim=True)
    w = torch.rand(2, 3, 3, generator=g) * 3
    best = constant_prediction_ce(z, w)
    c = (z * w[:, None]).sum((0, 2, 3))
    closed = rebalanced_soft_cross_entropy((c / c.sum()).log().view(1, 4, 1, 1).expand_as(z), z, w)
    torch.testing.assert_close(best, closed)
    for _ in range(20):  # no other constant does better
        other = torch.randn(4, generator=g).view(1, 4, 1, 1).expand_as(z)
        assert float(rebalanced_soft_cross_entropy(other, z, w)) >= float(best) - 1e-6


def test_loss_is_the_unweighted_or_the_rebalanced_ce_and_the_prior_is_always_estimated() -> None:
    from selfsup.views.ab_bins import empirical_prior, rebalance_weights, smooth_prior, soft_encode

    imgs = photos(4)
    for rebalance in (False, True):
        m = _method(rebalance=rebalance)
        batch = m.make_batch(imgs, generator=torch.Generator().manual_seed(0))
        out = m.training_step(batch, Progress(0, 1))
        assert int(m.prior_batches_seen) == 1  # estimated even when the loss does not use it
        ab = m.target_ab(rgb_to_lab(batch.views[0]))
        weights = rebalance_weights(smooth_prior(empirical_prior(ab, m.ab_centers), m.ab_centers, 5.0), 0.5)
        torch.testing.assert_close(m.class_weights(), weights)
        z = soft_encode(ab, m.ab_centers, 5, 5.0)
        logits = m.predict(batch.views[0])[1]
        pixel_w = weights[z.argmax(1)] if rebalance else None
        expected = rebalanced_soft_cross_entropy(logits, z, pixel_w)
        torch.testing.assert_close(out.loss, expected, rtol=1e-4, atol=1e-5)


def test_heldout_pretext_metrics_leave_the_prior_alone_and_match_the_closed_forms() -> None:
    from selfsup.views.ab_bins import soft_encode

    torch.manual_seed(0)
    m = _method(rebalance=False)
    imgs = photos(12)
    rgb = imgs.float() / 255
    before = m.pretext_metrics(rgb)  # no prior yet: the weights come from the evaluated images
    assert int(m.prior_batches_seen) == 0 and float(m.prior_counts.sum()) == 0
    train_steps(m, imgs, 40)
    seen = int(m.prior_batches_seen)
    after = m.pretext_metrics(rgb, batch_size=5)  # batched evaluation == one pass
    assert int(m.prior_batches_seen) == seen and m.training
    ab = m.target_ab(rgb_to_lab(rgb))
    z = soft_encode(ab, m.ab_centers, 5, 5.0)
    assert abs(after["const_ce"] - float(constant_prediction_ce(z))) < 1e-5
    assert abs(after["gray_rmse"] - float(ab.pow(2).mean().sqrt())) < 1e-4
    assert after["ce"] < after["const_ce"] < before["ce"]  # it learned beyond the best constant
    assert after["ab_rmse"] < after["gray_rmse"]
    pixel_w = m.class_weights()[z.argmax(1)]  # the training prior's rebalancing weights
    assert abs(after["const_loss_rb"] - float(constant_prediction_ce(z, pixel_w))) < 1e-4
    m.eval()
    m.training_step(m.make_batch(imgs, generator=torch.Generator().manual_seed(1)), Progress(0, 1))
    assert int(m.prior_batches_seen) == seen  # an eval-mode step never moves the prior
