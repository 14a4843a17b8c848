"""Context encoder: masked L2 counts only masked pixels, the adversarial split of gradients, learning."""

from __future__ import annotations

import pytest
import torch

from selfsup.backbones import create_backbone
from selfsup.methods.inpainting import ContextEncoder, InpaintingConfig, context_mean_fill, masked_l2
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


def test_context_mean_fill_uses_visible_pixels_only() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    assert float(context_mean_fill(x, mask)) == float(x[..., 2:, :].mean())


def test_batch_masks_the_center_and_encoder_sees_only_context() -> None:
    m = _method()
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
    m = _method(adversarial=True)
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
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for step in range(60):
        out = m.training_step(m.make_batch(images, generator=g), Progress(step, 60))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert float(out.metrics["rec_mse"]) < 0.6 * float(out.metrics["mean_baseline_mse"])


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="method.mask"):
        _method(mask="ring")
    with pytest.raises(ValueError, match="method.mask_fraction"):
        _method(mask_fraction=1.0)
