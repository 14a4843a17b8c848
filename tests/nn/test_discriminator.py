"""ConvDiscriminator: one logit per image at any size, and it can learn a real/fake split."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from selfsup.nn.discriminator import ConvDiscriminator


@pytest.mark.parametrize(("chans", "size"), [(1, 28), (3, 32), (3, 64), (1, 8)])
def test_one_logit_per_image(chans: int, size: int) -> None:
    d = ConvDiscriminator(chans, size, width=8)
    assert d(torch.randn(3, chans, size, size)).shape == (3,)


def test_learns_to_separate_smooth_from_noisy_images() -> None:
    d = ConvDiscriminator(1, 16, width=8)
    opt = torch.optim.Adam(d.parameters(), 2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(40):
        real = torch.randn(16, 1, 1, 1, generator=g).expand(16, 1, 16, 16)  # flat images
        fake = torch.randn(16, 1, 16, 16, generator=g)  # noise
        logits = d(torch.cat([real, fake]))
        labels = torch.cat([torch.ones(16), torch.zeros(16)])
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    d.eval()
    real = torch.randn(32, 1, 1, 1, generator=g).expand(32, 1, 16, 16)
    fake = torch.randn(32, 1, 16, 16, generator=g)
    acc = ((d(real) > 0).float().mean() + (d(fake) < 0).float().mean()) / 2
    assert float(acc) > 0.9


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="image_size"):
        ConvDiscriminator(1, 2)
