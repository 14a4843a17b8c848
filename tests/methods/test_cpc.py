"""CPC: patch grid, causal context (future rows never seen), loss against a naive loop."""

import pytest
import torch
import torch.nn.functional as F

from selfsup.backbones import create_backbone
from selfsup.losses.cpc import cpc_info_nce
from selfsup.methods.cpc import CPC, CPCConfig, patch_grid
from selfsup.nn.causal_context import MaskedContext2d
from selfsup.train.config_loader import load_run_config
from selfsup.types import Progress


def test_patch_grid_matches_slices():
    x = torch.randn(2, 1, 12, 12)
    patches, gh, gw = patch_grid(x, 6, 3)
    assert (gh, gw) == (3, 3) and patches.shape == (18, 1, 6, 6)
    for b in range(2):
        for i in range(3):
            for j in range(3):
                assert torch.equal(patches[b * 9 + i * 3 + j], x[b, :, 3 * i : 3 * i + 6, 3 * j : 3 * j + 6])


@pytest.mark.parametrize("row", [0, 2, 4])
def test_context_never_sees_rows_below(row):
    torch.manual_seed(0)
    ctx = MaskedContext2d(4, 6, layers=3)
    z = torch.randn(2, 4, 6, 5)
    z2 = z.clone()
    z2[:, :, row + 1 :] += torch.randn_like(z2[:, :, row + 1 :])  # perturb every future row
    c, c2 = ctx(z), ctx(z2)
    torch.testing.assert_close(c2[:, :, : row + 1], c[:, :, : row + 1], rtol=0, atol=0)
    if row < 5:
        assert not torch.allclose(c2[:, :, row + 1 :], c[:, :, row + 1 :])  # the test can fail


def _cpc(**kw) -> CPC:
    torch.manual_seed(0)
    backbone = create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1])
    return CPC(backbone, CPCConfig(**{"patch_size": 8, "context_layers": 2, "pred_steps": 2, **kw}))


def test_method_context_ignores_future_patches():
    m = _cpc().eval()  # eval: batch norm would otherwise mix statistics of all patches
    x = torch.randn(2, 1, 16, 16)
    x2 = x.clone()
    x2[:, :, 12:] = torch.randn(2, 1, 4, 16)  # pixels covered only by patch row 2 (rows start 0, 4, 8)
    c, c2 = m.context(m.latents(x)), m.context(m.latents(x2))
    torch.testing.assert_close(c2[:, :, :2], c[:, :, :2], rtol=0, atol=0)
    assert not torch.allclose(c2[:, :, 2], c[:, :, 2])


def test_cpc_loss_matches_naive_loop():
    m = _cpc(temperature=None)
    images = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    batch = m.make_batch(images, generator=torch.Generator().manual_seed(0))
    out = m.training_step(batch, Progress(0, 10))
    z = m.batch_latents(batch)  # latents of the independently augmented patches
    c = m.context(z)
    b, d, g, _ = z.shape
    cands = [z[bb, :, i, j] for bb in range(b) for i in range(g) for j in range(g)]
    cands = torch.stack(cands)
    terms, hits = [], []
    for k, w in zip([1, 2], m.predictors, strict=True):
        for bb in range(b):
            for i in range(g - k):
                for j in range(g):
                    pred = w.weight[:, :, 0, 0] @ c[bb, :, i, j]
                    logits = cands @ pred
                    target = bb * g * g + (i + k) * g + j
                    terms.append(-torch.log_softmax(logits, 0)[target])
                    hits.append(float(logits.argmax() == target))
    torch.testing.assert_close(out.loss, torch.stack(terms).mean(), rtol=1e-5, atol=1e-5)
    assert out.metrics["cpc_acc"].item() == pytest.approx(sum(hits) / len(hits))


def test_patches_are_augmented_independently_and_keep_normalization():
    m = _cpc()
    images = torch.randint(0, 256, (3, 1, 16, 16), dtype=torch.uint8)
    batch = m.make_batch(images, generator=torch.Generator().manual_seed(1))
    plain, gh, gw = patch_grid(batch.views[0], 8, 4)
    patches = batch.targets["patches"]
    assert patches.shape == plain.shape == (3 * gh * gw, 1, 8, 8)
    # Each patch drew its own augmentation: most patches differ from the plain cut, not all the same way.
    changed = (patches - plain).abs().flatten(1).amax(1) > 1e-3
    assert changed.float().mean() > 0.5
    # The same normalization as the view (mean/std 0.5: values in [-1, 1]), so evaluation's holds.
    assert patches.min() >= -1 - 1e-5 and patches.max() <= 1 + 1e-5
    # Without patch_views the patches are the plain cut and the batch carries none.
    m0 = _cpc(patch_views=None)
    b0 = m0.make_batch(images, generator=torch.Generator().manual_seed(1))
    assert "patches" not in b0.targets
    torch.testing.assert_close(m0.batch_latents(b0), m0.latents(b0.views[0]))


def test_cpc_info_nce_cosine_form():
    p, z = torch.randn(5, 3), torch.randn(7, 3)
    t = torch.tensor([0, 2, 4, 6, 1])
    loss, _ = cpc_info_nce(p, z, t, temperature=0.5)
    ref = F.cross_entropy(F.normalize(p, dim=1) @ F.normalize(z, dim=1).T / 0.5, t)
    torch.testing.assert_close(loss, ref)
    with pytest.raises(ValueError, match="targets"):
        cpc_info_nce(p, z, t[:3])


def test_cpc_config_and_validation():
    assert CPCConfig(patch_size=8).stride == 4 and CPCConfig(first_offset=2, pred_steps=3).offsets == [
        2,
        3,
        4,
    ]
    with pytest.raises(ValueError, match="method.patch_size"):
        CPCConfig(patch_size=0).validate()
    with pytest.raises(ValueError, match="method.patch_size"):
        m = _cpc(patch_size=32)
        m.training_step(m.make_batch(torch.zeros(2, 1, 16, 16, dtype=torch.uint8)), Progress(0, 1))
    cfg = load_run_config("configs/cpc_fashion_mnist.yaml")
    assert cfg.method_name == "cpc"
