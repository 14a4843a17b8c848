"""TextTransformer: causal, EOT pooling (padding after EOT changes nothing), both pooling rules agree."""

from __future__ import annotations

import pytest
import torch

from selfsup.nn.text_transformer import TextTransformer

EOT = 99


def _model(pool: str = "argmax") -> TextTransformer:
    torch.manual_seed(0)
    return TextTransformer(
        vocab_size=100, context_length=12, width=32, layers=2, heads=4, out_dim=16, pool=pool, eot_id=EOT
    ).eval()


def _tokens() -> torch.Tensor:
    t = torch.zeros(3, 12, dtype=torch.int64)
    t[0, :5] = torch.tensor([98, 5, 6, 7, EOT])
    t[1, :3] = torch.tensor([98, 9, EOT])
    t[2, :12] = torch.tensor([98, *range(10, 20), EOT])
    return t


def test_padding_after_eot_does_not_change_feature() -> None:
    model, t = _model(), _tokens()
    noisy = t.clone()
    noisy[0, 5:] = torch.randint(0, 90, (7,))
    noisy[1, 3:] = torch.randint(0, 90, (9,))
    with torch.no_grad():
        a, b = model(t), model(noisy)
        c = model(t[:, :5].clone().where(t[:, :5] != 0, 0))  # shorter context, same prefix for rows 0 and 1
    assert a.shape == (3, 16)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[:2], c[:2])


def test_changing_a_token_before_eot_changes_feature() -> None:
    model, t = _model(), _tokens()
    other = t.clone()
    other[0, 2] = 50
    with torch.no_grad():
        a, b = model(t), model(other)
    assert not torch.allclose(a[0], b[0])
    torch.testing.assert_close(a[1:], b[1:])


def test_first_eot_pool_equals_argmax_when_eot_is_largest() -> None:
    t = _tokens()
    with torch.no_grad():
        torch.testing.assert_close(_model("argmax")(t), _model("first_eot")(t))
    assert _model("first_eot").eot_positions(t).tolist() == [4, 2, 11]


def test_causality_per_position() -> None:
    """The feature at position i depends only on tokens <= i (checked via forward_features at EOT)."""
    model = _model()
    t = _tokens()[2:3]
    grads = []
    emb = model.token_embedding
    x = emb(t).detach().requires_grad_(True)
    h = x + model.positional_embedding[:12]
    mask = model.causal_mask.to(h.dtype)
    for block in model.blocks:
        h = block(h, mask)
    h[0, 4].sum().backward()
    grads = x.grad[0].abs().sum(dim=1)
    assert (grads[5:] == 0).all() and (grads[:5] > 0).all()


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="eot_id"):
        TextTransformer(vocab_size=10, context_length=4, width=8, layers=1, heads=2, pool="first_eot")
    with pytest.raises(ValueError, match="context_length"):
        _model()(torch.zeros(1, 13, dtype=torch.int64))
    with pytest.raises(ValueError, match="EOT"):
        _model("first_eot")(torch.ones(1, 4, dtype=torch.int64))
