"""Context encoder: masked L2 counts only masked pixels, the adversarial split of gradients, learning."""

from __future__ import annotations

import pytest
import torch
from method_training import train_steps

from selfsup.backbones import create_backbone
from selfsup.methods.inpainting import (
    ContextEncoder,
    InpaintingConfig,
    context_mean_fill,
    masked_l2,
    weighted_l2_per_image,
)
from selfsup.registry import create_method
from selfsup.types import Progress


def _method(**kw) -> ContextEncoder:
    bb = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1, 1])
    return create_method("inpainting", bb, InpaintingConfig(decoder_width=16, disc_width=8, **kw))


def _digits(n: int = 32) -> torch.Tensor:
    from sklearn.datasets import load_digits

    x = torch.from_numpy(load_digits().images[:n]).float() * (255 / 16)
    x = torch.nn.functional.interpolate(x[:, None], size=16, mode="bilinear")
    return x.round().clamp(0, 255).to(torch.uint8)


def test_masked_l2_counts_only_masked_pixels() -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 3, 6, 6, generator=g), torch.randn(2, 3, 6, 6, generator=g)
    mask = (torch.rand(2, 1, 6, 6, generator=g) > 0.6).float()
    m = mask.expand_as(pred).bool()
    naive = ((pred - target)[m] ** 2).mean()
    torch.testing.assert_close(masked_l2(pred, target, mask), naive)
    changed = torch.where(m, pred, pred + 100.0)  # only unmasked predictions change
    torch.testing.assert_close(masked_l2(changed, target, mask), naive)
    with pytest.raises(ValueError, match="no masked pixel"):
        masked_l2(pred, target, torch.zeros_like(mask))


def test_per_image_l2_is_the_mean_of_each_images_own_masked_l2() -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(3, 2, 5, 5, generator=g), torch.randn(3, 2, 5, 5, generator=g)
    w = torch.rand(3, 1, 5, 5, generator=g) * (torch.rand(3, 1, 5, 5, generator=g) > 0.3)
    per = weighted_l2_per_image(pred, target, w)
    for i in range(3):  # each image alone equals the pooled formula on that image
        torch.testing.assert_close(per[i], masked_l2(pred[i : i + 1], target[i : i + 1], w[i : i + 1]))
    halves = torch.cat([weighted_l2_per_image(pred[:1], target[:1], w[:1]), per[1:]])
    torch.testing.assert_close(halves.mean(), per.mean())  # splits across ranks average exactly
    w[1] = 0
    with pytest.raises(ValueError, match="no weighted pixel"):
        weighted_l2_per_image(pred, target, w)


def test_context_mean_fill_uses_visible_pixels_only() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    assert float(context_mean_fill(x, mask)) == float(x[..., 2:, :].mean())


def test_batch_masks_the_center_and_encoder_sees_only_context() -> None:
    m = _method(mask="center")
    batch = m.make_batch(_digits(4), generator=torch.Generator().manual_seed(0))
    mask = batch.targets["mask"]
    assert float(mask[0].sum()) == 64 and torch.equal(mask[0], mask[3])
    x = batch.views[0]
    m.eval()
    pred_a, _ = m.inpaint(x, mask)
    pred_b, _ = m.inpaint(torch.where(mask.bool(), torch.randn_like(x), x), mask)
    torch.testing.assert_close(pred_a, pred_b)  # the hole's content never reaches the encoder
    assert m.encoder.spec["name"] == "resnet_small"  # export sees a plain backbone


def test_adversarial_gradients_are_split_between_players() -> None:
    torch.manual_seed(0)
    m = _method(adversarial=True, overlap_px=0)
    batch = m.make_batch(_digits(8), generator=torch.Generator().manual_seed(0))
    out = m.training_step(batch, Progress(0, 10))
    out.loss.backward()
    d_grads = {k: p.grad.clone() for k, p in m.discriminator.named_parameters()}
    dec_grads = {k: p.grad.clone() for k, p in m.decoder.named_parameters()}
    # the discriminator's gradient equals that of its own loss alone (the generator term is blocked)
    x, mask = batch.views[0], batch.targets["mask"]
    pred, _ = m.inpaint(x, mask)
    filled = (x * (1 - mask) + pred * mask).detach()
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    real, fake = m.discriminator(x), m.discriminator(filled)
    d_only = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
    grads = torch.autograd.grad(d_only, list(m.discriminator.parameters()))
    for (k, g1), g2 in zip(d_grads.items(), grads, strict=True):
        torch.testing.assert_close(g1, g2, msg=k)
    rec_grads = torch.autograd.grad(0.999 * masked_l2(pred, x, mask), list(m.decoder.parameters()))
    assert any((g1 - g2).abs().max() > 0 for g1, g2 in zip(dec_grads.values(), rec_grads, strict=True))
    parts = out.metrics
    expected = 0.999 * parts["rec_mse"] + 0.001 * parts["g_adv"] + parts["d_loss"]
    torch.testing.assert_close(out.loss.detach(), expected)


def test_learns_to_beat_the_context_mean_fill() -> None:
    torch.manual_seed(0)
    m = _method()
    images = _digits(64)
    out = train_steps(m, images, 60)
    assert float(out.metrics["rec_mse"]) < 0.6 * float(out.metrics["mean_baseline_mse"])


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="method.mask"):
        _method(mask="ring")
    with pytest.raises(ValueError, match="method.mask_fraction"):
        _method(mask_fraction=1.0)
    with pytest.raises(ValueError, match="method.fill"):
        _method(fill="noise")
    with pytest.raises(ValueError, match="method.bridge"):
        _method(bridge="fc")
    with pytest.raises(ValueError, match="method.region_coverage"):
        _method(region_coverage=0.0)
    with pytest.raises(ValueError, match="method.overlap_px"):
        _method(overlap_px=-1)


@pytest.mark.parametrize("mask", ["center", "blocks", "region"])
def test_hole_is_filled_with_the_context_mean_and_never_leaks(mask: str) -> None:
    m = _method(mask=mask).eval()
    batch = m.make_batch(_digits(4), generator=torch.Generator().manual_seed(1))
    x, hole = batch.views[0], batch.targets["mask"].bool()
    seen = m.remove(x, hole.float())
    for i in range(4):
        h = hole[i, 0]
        torch.testing.assert_close(seen[i, 0][h], x[i, 0][~h].mean().expand(int(h.sum())))
        torch.testing.assert_close(seen[i, 0][~h], x[i, 0][~h])
    pred_a, feats_a = m.inpaint(x, hole.float())
    pred_b, feats_b = m.inpaint(torch.where(hole, torch.randn_like(x) * 5, x), hole.float())
    torch.testing.assert_close(pred_a, pred_b)
    torch.testing.assert_close(feats_a, feats_b)


def test_overlap_band_weights_match_the_closed_form() -> None:
    m = _method(mask="center", overlap_px=1, overlap_weight=10.0)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1  # 8x8 hole
    w = m.loss_weights(mask)
    assert float((w == 1).sum()) == 64 and float((w == 10).sum()) == 10 * 10 - 64  # 1 px ring: 36
    assert float((w == 0).sum()) == 256 - 100
    pred, target = torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 16, 16)
    pred[..., 4:12, 4:12] = 3.0  # hole error 4, band error 1
    expected = (64 * 4 + 36 * 10 * 1) / (64 + 36 * 10)
    torch.testing.assert_close(masked_l2(pred, target, w), torch.tensor(expected))
    torch.testing.assert_close(weighted_l2_per_image(pred, target, w), torch.tensor([expected]))
    assert torch.equal(_method(overlap_px=0).loss_weights(mask), mask)


def test_pooled_bridge_decodes_from_the_evaluated_vector_only() -> None:
    m = _method(bridge="pooled").eval()
    fmap = torch.randn(3, m.encoder.token_dim, 4, 4)  # 16 px / total stride 4
    shuffled = fmap.flatten(2)[..., torch.randperm(16)].view_as(fmap)  # same mean, new layout
    torch.testing.assert_close(m.decoder(m.bridge(fmap)), m.decoder(m.bridge(shuffled)))
    x = m.make_batch(_digits(3)).views[0]
    _, pooled = m.inpaint(x, torch.zeros(3, 1, 16, 16))
    torch.testing.assert_close(pooled, m.encoder(x))  # the decoder's input is what kNN / linear read
