"""Split-brain autoencoder: disjoint halves on L and ab, concatenated features, both losses learn."""

from __future__ import annotations

import torch
from method_training import train_steps
from real_photos import photos

from selfsup.backbones import create_backbone
from selfsup.methods.split_brain import SplitBrain, SplitBrainConfig, lightness_bins
from selfsup.registry import create_method
from selfsup.views.lab import normalize_ab, normalize_l, rgb_to_lab


def _method(**kw) -> SplitBrain:
    bb = create_backbone("resnet_small", in_chans=3, image_size=16, width=4, depths=[1, 1, 1])
    return create_method("split_brain", bb, SplitBrainConfig(decoder_width=16, **kw))


def test_lightness_bins_are_equal_width() -> None:
    lightness = torch.tensor([0.0, 1.99, 2.0, 50.0, 99.99, 100.0]).view(1, 1, 1, 6)
    assert lightness_bins(lightness, 50).flatten().tolist() == [0, 0, 1, 25, 49, 49]


def test_encoder_concatenates_the_two_halves() -> None:
    m = _method().eval()
    l_net, ab_net = m.encoder.branches
    assert (l_net.in_chans, ab_net.in_chans) == (1, 2)
    assert m.encoder.num_features == l_net.num_features + ab_net.num_features == 32
    x = photos(2).float() / 255
    lab = rgb_to_lab(x)
    expected = torch.cat([l_net(normalize_l(lab[:, :1])), ab_net(normalize_ab(lab[:, 1:]))], dim=1)
    torch.testing.assert_close(m.encoder(x), expected)
    assert not set(map(id, l_net.parameters())) & set(map(id, ab_net.parameters()))


def test_loss_is_the_sum_and_both_halves_learn() -> None:
    torch.manual_seed(0)
    m = _method()
    imgs = photos(12)
    out = train_steps(m, imgs, 40)
    met = out.metrics
    torch.testing.assert_close(out.loss.detach(), met["loss_l_to_ab"] + met["loss_ab_to_l"])
    assert float(met["loss_l_to_ab"]) < float(met["ab_const_ce"])
    assert float(met["loss_ab_to_l"]) < float(met["l_const_ce"])
    assert float(met["l_bin_acc"]) > float(met["l_mode_acc"])
