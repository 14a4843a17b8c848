"""MoCo v3: symmetric 2τ-scaled loss against the formula, momentum branch, frozen patch projection."""

import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.methods.mocov3 import MoCoV3, MoCoV3Config, contrastive_loss
from selfsup.train.config_loader import load_run_config
from selfsup.types import Progress


def _method(**kw) -> MoCoV3:
    torch.manual_seed(0)
    backbone = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1])
    cfg = {"proj_hidden_dim": 16, "pred_hidden_dim": 16, "out_dim": 8, **kw}
    return MoCoV3(backbone, MoCoV3Config(**cfg))


def _naive_ctr(q, k, tau):
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1)
    total = 0.0
    for i in range(q.shape[0]):
        logits = torch.stack([q[i] @ k[j] / tau for j in range(k.shape[0])])
        total = total - torch.log_softmax(logits, 0)[i]
    return 2 * tau * total / q.shape[0]


@pytest.mark.parametrize("tau", [0.2, 1.0])
def test_contrastive_loss_matches_formula(tau):
    torch.manual_seed(1)
    q, k = torch.randn(6, 4), torch.randn(6, 4)
    loss, acc = contrastive_loss(q, k, tau)
    torch.testing.assert_close(loss, _naive_ctr(q, k, tau), rtol=1e-5, atol=1e-6)
    sims = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T
    assert acc.item() == pytest.approx((sims.argmax(1) == torch.arange(6)).float().mean().item())


def test_training_step_is_symmetric_sum():
    m = _method()
    images = torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8)
    batch = m.make_batch(images, generator=torch.Generator().manual_seed(0))
    out = m.training_step(batch, Progress(0, 10))
    x = torch.cat(batch.views)
    q = m.predictor(m.projector(m.encoder(x)))
    k = m.momentum_projector(m.momentum_encoder(x))
    ref = _naive_ctr(q[:8], k[8:], 0.2) + _naive_ctr(q[8:], k[:8], 0.2)
    torch.testing.assert_close(out.loss, ref, rtol=1e-5, atol=1e-6)
    out.loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in m.momentum_encoder.parameters())
    trainable = {id(p) for g in m.param_groups(0.0) for p in g["params"]}
    assert not any(id(p) in trainable for p in m.momentum_projector.parameters())
    assert all(id(p) in trainable for p in m.predictor.parameters())


def test_momentum_update_after_step():
    m = _method(momentum=0.9, momentum_schedule="constant")
    with torch.no_grad():
        for p in m.encoder.parameters():
            p.add_(1.0)
    old = [p.clone() for p in m.momentum_encoder.parameters()]
    m.after_optimizer_step(Progress(0, 10))
    for k, o, q in zip(m.momentum_encoder.parameters(), old, m.encoder.parameters(), strict=True):
        torch.testing.assert_close(k, 0.9 * o + 0.1 * q, rtol=1e-6, atol=1e-7)
    assert _method().momentum_at(Progress(5, 10)) == pytest.approx(0.995)  # cosine 0.99 → 1, halfway


def test_freeze_patch_embed_on_vit_and_error_on_cnn():
    vit = create_backbone(
        "timm:vit_tiny_patch16_224",
        in_chans=1,
        image_size=16,
        patch_size=8,
        embed_dim=32,
        depth=1,
        num_heads=2,
    )
    m = MoCoV3(vit, MoCoV3Config(proj_hidden_dim=16, pred_hidden_dim=16, out_dim=8, freeze_patch_embed=True))
    frozen = list(m.encoder.model.patch_embed.parameters())
    assert frozen and all(not p.requires_grad for p in frozen)
    trainable = {id(p) for g in m.param_groups(0.0) for p in g["params"]}
    assert not any(id(p) in trainable for p in frozen)
    assert any(p.requires_grad for p in m.encoder.parameters())
    with pytest.raises(ValueError, match="method.freeze_patch_embed"):
        _method(freeze_patch_embed=True)


def test_asymmetric_views_and_config():
    m = _method()
    recipes = m._build_views(16).recipes
    assert [r.blur_p for r in recipes] == [1.0, 0.1] and [r.solarize_p for r in recipes] == [0.0, 0.2]
    with pytest.raises(ValueError, match="method.temperature"):
        MoCoV3Config(temperature=0).validate()
    cfg = load_run_config("configs/mocov3_fashion_mnist.yaml")
    assert cfg.method_name == "mocov3"
