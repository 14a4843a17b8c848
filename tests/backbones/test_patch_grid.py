"""PatchGridBackbone: the mean of the patch encoder over the grid, exported and rebuilt exactly."""

from __future__ import annotations

import torch

from selfsup.backbones import create_backbone
from selfsup.backbones.patch_grid import PatchGridBackbone
from selfsup.export import export_encoder, load_encoder


def _inner():
    torch.manual_seed(0)
    return create_backbone("resnet_small", in_chans=1, image_size=16, width=4, depths=[1, 1, 1, 1]).eval()


def test_pooled_is_the_mean_over_the_patch_grid() -> None:
    inner = _inner()
    enc = PatchGridBackbone(inner, patch_size=8, patch_stride=4).eval()
    x = torch.randn(2, 1, 16, 16)
    # Naive reference: every 8x8 window at stride 4 (a 3x3 grid), row-major.
    windows = [x[:, :, i : i + 8, j : j + 8] for i in (0, 4, 8) for j in (0, 4, 8)]
    latents = torch.stack([inner(w) for w in windows], dim=1)  # [B, 9, D]
    torch.testing.assert_close(enc(x), latents.mean(dim=1))
    torch.testing.assert_close(enc.forward_tokens(x), latents)
    assert enc.num_features == inner.num_features and enc.patch_size == 4
    assert next(enc.parameters()) is next(inner.parameters())  # wraps, does not copy


def test_export_round_trip(tmp_path) -> None:
    enc = PatchGridBackbone(_inner(), patch_size=8, patch_stride=4).eval()
    path = export_encoder(enc, tmp_path / "cpc", method="cpc", image_size=16)
    loaded = load_encoder(path).eval()
    assert loaded.spec["name"] == "patchgrid:resnet_small"
    x = torch.randn(3, 1, 16, 16)
    torch.testing.assert_close(loaded(x), enc(x))
