"""MoCo v3: symmetric 2τ-scaled loss against the formula, per-view forwards (batch-norm statistics per view,
as the official code), the official MLP structure, momentum branch, frozen patch projection."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from selfsup.backbones import create_backbone
from selfsup.methods.mocov3 import MoCoV3, MoCoV3Config, contrastive_loss
from selfsup.train.config_loader import load_run_config
from selfsup.types import Batch, Progress


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


def _vit(**kw):
    torch.manual_seed(0)
    arch = {"patch_size": 8, "embed_dim": 32, "depth": 1, "num_heads": 2, **kw}
    return create_backbone("timm:vit_tiny_patch16_224", in_chans=1, image_size=16, **arch)


def _two_forward_reference(m: MoCoV3, x1, x2, tau):
    """The official ``MoCo.forward``: every network called once per view, never on both views at once."""
    q1, q2 = m.predictor(m.projector(m.encoder(x1))), m.predictor(m.projector(m.encoder(x2)))
    with torch.no_grad():
        k1 = m.momentum_projector(m.momentum_encoder(x1))
        k2 = m.momentum_projector(m.momentum_encoder(x2))
    return _naive_ctr(q1, k2, tau) + _naive_ctr(q2, k1, tau)


def test_training_step_is_symmetric_sum_of_per_view_forwards():
    m = _method()
    ref_m = copy.deepcopy(m)  # same weights and running statistics
    images = torch.randint(0, 256, (8, 1, 16, 16), dtype=torch.uint8)
    batch = m.make_batch(images, generator=torch.Generator().manual_seed(0))
    out = m.training_step(batch, Progress(0, 10))
    ref = _two_forward_reference(ref_m, batch.views[0], batch.views[1], 0.2)
    torch.testing.assert_close(out.loss, ref, rtol=1e-5, atol=1e-6)
    # Running statistics too: each BN was updated once per view, as by two separate calls.
    for (name, b), b_ref in zip(m.named_buffers(), ref_m.buffers(), strict=True):
        torch.testing.assert_close(b, b_ref, msg=name)
    out.loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in m.momentum_encoder.parameters())
    trainable = {id(p) for g in m.param_groups(0.0) for p in g["params"]}
    assert not any(id(p) in trainable for p in m.momentum_projector.parameters())
    assert all(id(p) in trainable for p in m.predictor.parameters())


def test_batch_norm_statistics_are_per_view_not_of_the_concatenated_batch():
    # Views with different means: BN over the concatenation would normalize both with their mixture.
    m = _method()
    torch.manual_seed(3)
    x1 = torch.randn(8, 1, 16, 16)
    x2 = 3.0 * torch.randn(8, 1, 16, 16) + 2.0
    per_view = _two_forward_reference(copy.deepcopy(m), x1, x2, 0.2)
    concat = copy.deepcopy(m)
    q = concat.predictor(concat.projector(concat.encoder(torch.cat([x1, x2]))))
    k = concat.momentum_projector(concat.momentum_encoder(torch.cat([x1, x2]))).detach()
    concatenated = _naive_ctr(q[:8], k[8:], 0.2) + _naive_ctr(q[8:], k[:8], 0.2)
    out = m.training_step(Batch(views=[x1, x2]), Progress(0, 10))
    torch.testing.assert_close(out.loss, per_view, rtol=1e-5, atol=1e-6)
    assert (out.loss - concatenated).abs() > 1e-3
    # The projector's output BN saw view 2 last: its running mean moved twice, once per view.
    bn = m.projector.net[-1]
    assert int(bn.num_batches_tracked) == 2


def _kinds(head) -> list[str]:
    return [type(x).__name__ for x in head.net]


def test_mlps_follow_the_official_builder():
    # ResNet (MoCo_ResNet): projector 2 layers ending in BN(affine=False), predictor without last BN.
    cnn = _method(proj_layers=2)
    assert _kinds(cnn.projector) == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d"]
    assert _kinds(cnn.predictor) == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    # ViT (MoCo_ViT): projector 3 layers and predictor 2 layers, both ending in BN(affine=False).
    vit = MoCoV3(_vit(), MoCoV3Config(proj_hidden_dim=16, pred_hidden_dim=16, out_dim=8))
    assert _kinds(vit.projector) == ["Linear", "BatchNorm1d", "ReLU"] * 2 + ["Linear", "BatchNorm1d"]
    assert _kinds(vit.predictor) == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d"]
    for m in (cnn, vit):
        for head in (m.projector, m.predictor, m.momentum_projector):
            assert all(x.bias is None for x in head.net if isinstance(x, nn.Linear))  # bias=False
            last = head.net[-1]
            assert not isinstance(last, nn.BatchNorm1d) or not last.affine
    forced = MoCoV3(
        _vit(), MoCoV3Config(proj_hidden_dim=16, pred_hidden_dim=16, out_dim=8, pred_last_bn=False)
    )
    assert _kinds(forced.predictor)[-1] == "Linear"


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
    vit = _vit()
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


def test_momentum_branch_is_deterministic_when_the_query_encoder_uses_drop_path():
    m = MoCoV3(
        _vit(depth=2, drop_path_rate=0.5), MoCoV3Config(proj_hidden_dim=16, pred_hidden_dim=16, out_dim=8)
    )
    m.train()
    x = torch.randn(4, 1, 16, 16)
    torch.manual_seed(1)
    assert not torch.equal(m.encoder(x), m.encoder(x))
    with torch.no_grad():
        k1, k2 = m.momentum_encoder(x), m.momentum_encoder(x)
    torch.testing.assert_close(k1, k2, rtol=0, atol=0)
