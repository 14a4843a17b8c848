"""MAE decoder: mask tokens at the masked positions, encoded tokens at the visible ones."""

from __future__ import annotations

import torch

from selfsup.nn.mae_decoder import MAEDecoder
from selfsup.nn.patches import random_masking
from selfsup.nn.pos_embed import sincos_2d


def test_depth_zero_decoder_matches_naive_unshuffle() -> None:
    torch.manual_seed(0)
    b, grid, enc_dim, dim, patch_dim = 3, (4, 4), 12, 8, 5
    dec = MAEDecoder(grid, enc_dim, patch_dim, dim=dim, depth=0, num_heads=2)
    tokens = torch.randn(b, 16, enc_dim)
    masking = random_masking(tokens, 0.75, generator=torch.Generator().manual_seed(0))
    cls = torch.randn(b, 1, enc_dim)
    latent = torch.cat([cls, masking.kept], dim=1)
    out = dec(latent, masking.ids_restore)
    assert out.shape == (b, 16, patch_dim)
    pos = sincos_2d(dim, grid)
    for i in range(b):
        seq = []
        keep = masking.ids_keep[i].tolist()
        for pos_idx in range(16):
            if pos_idx in keep:
                seq.append(dec.embed(tokens[i, pos_idx]))
            else:
                seq.append(dec.mask_token[0, 0])
        ref = dec.pred(dec.norm(torch.stack(seq) + pos))
        torch.testing.assert_close(out[i], ref, rtol=1e-5, atol=1e-6)


def test_output_is_permutation_consistent_and_ignores_masked_content() -> None:
    torch.manual_seed(0)
    dec = MAEDecoder((3, 3), 8, 4, dim=16, depth=2, num_heads=4).eval()
    tokens = torch.randn(2, 9, 8)
    noise = torch.rand(2, 9)
    m1 = random_masking(tokens, 0.5, noise=noise)
    other = tokens.clone()
    other[m1.mask.bool()] = torch.randn(int(m1.mask.sum()), 8)  # change only masked tokens
    m2 = random_masking(other, 0.5, noise=noise)
    cls = torch.randn(2, 1, 8)
    out1 = dec(torch.cat([cls, m1.kept], 1), m1.ids_restore)
    out2 = dec(torch.cat([cls, m2.kept], 1), m2.ids_restore)
    torch.testing.assert_close(out1, out2)


def test_pos_embed_is_a_fixed_buffer_and_mask_token_is_learned() -> None:
    dec = MAEDecoder((2, 2), 8, 4, dim=8, depth=1, num_heads=2)
    names = {n for n, _ in dec.named_parameters()}
    assert "mask_token" in names and "pos_embed" not in names
    assert "pos_embed" not in dec.state_dict()
