"""patchify / unpatchify / random_masking against naive references and MAE's invariants."""

from __future__ import annotations

import pytest
import torch

from selfsup.nn.patches import num_visible, patchify, random_masking, unpatchify


@pytest.mark.parametrize(("c", "h", "w", "p"), [(1, 28, 28, 4), (1, 28, 28, 7), (3, 32, 16, 8), (3, 8, 8, 1)])
def test_patchify_unpatchify_identity(c: int, h: int, w: int, p: int) -> None:
    x = torch.randn(3, c, h, w)
    patches = patchify(x, p)
    assert patches.shape == (3, (h // p) * (w // p), p * p * c)
    assert torch.equal(unpatchify(patches, p, (h // p, w // p), c), x)
    assert torch.equal(patchify(unpatchify(patches, p, (h // p, w // p), c), p), patches)


def test_patchify_matches_naive_loop() -> None:
    x = torch.randn(2, 3, 12, 8)
    p = 4
    patches = patchify(x, p)
    gw = 8 // p
    for i in range(12 // p):
        for j in range(gw):
            ref = x[:, :, i * p : (i + 1) * p, j * p : (j + 1) * p].permute(0, 2, 3, 1).reshape(2, -1)
            assert torch.equal(patches[:, i * gw + j], ref)  # row-major grid, (row, col, channel) pixels


def test_patchify_rejects_indivisible_size() -> None:
    with pytest.raises(ValueError, match="multiple of patch_size"):
        patchify(torch.zeros(1, 1, 28, 28), 5)


@pytest.mark.parametrize(
    ("length", "ratio"), [(49, 0.75), (49, 0.5), (196, 0.75), (16, 0.9), (16, 0.0), (10, 0.25)]
)
def test_exact_number_visible_per_sample(length: int, ratio: float) -> None:
    tokens = torch.randn(6, length, 5)
    out = random_masking(tokens, ratio, generator=torch.Generator().manual_seed(0))
    keep = max(1, round(length * (1 - ratio)))
    assert out.kept.shape == (6, keep, 5)
    assert torch.equal(out.mask.sum(1), torch.full((6,), float(length - keep)))
    assert num_visible(length, ratio) == keep


def test_masks_differ_between_samples_and_visible_tokens_are_the_kept_ones() -> None:
    b, length, d = 8, 49, 3
    tokens = torch.randn(b, length, d)
    out = random_masking(tokens, 0.75, generator=torch.Generator().manual_seed(1))
    assert len({tuple(m.tolist()) for m in out.mask}) == b
    for i in range(b):
        assert torch.equal(out.kept[i], tokens[i, out.ids_keep[i]])
        assert torch.equal(out.mask[i, out.ids_keep[i]], torch.zeros(out.ids_keep.shape[1]))


def test_restore_indices_undo_the_shuffle() -> None:
    b, length, d = 4, 49, 6
    tokens = torch.randn(b, length, d)
    noise = torch.rand(b, length, generator=torch.Generator().manual_seed(2))
    out = random_masking(tokens, 0.75, noise=noise)
    ids_shuffle = noise.argsort(1)
    shuffled = tokens.gather(1, ids_shuffle.unsqueeze(-1).expand(-1, -1, d))
    assert torch.equal(shuffled[:, : out.kept.shape[1]], out.kept)
    restored = shuffled.gather(1, out.ids_restore.unsqueeze(-1).expand(-1, -1, d))
    assert torch.equal(restored, tokens)


def test_noise_makes_masking_deterministic_and_smallest_noise_is_kept() -> None:
    tokens = torch.randn(2, 16, 4)
    noise = torch.rand(2, 16)
    a, b = random_masking(tokens, 0.75, noise=noise), random_masking(tokens, 0.75, noise=noise)
    assert torch.equal(a.mask, b.mask)
    for i in range(2):
        assert set(a.ids_keep[i].tolist()) == set(noise[i].topk(4, largest=False).indices.tolist())


def test_bad_mask_ratio() -> None:
    with pytest.raises(ValueError, match="mask_ratio"):
        random_masking(torch.zeros(1, 4, 2), 1.0)
