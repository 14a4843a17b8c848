"""ClipTokenizer: CLIP's layout, equality with open_clip's own tokenize, round trip, truncation keeping EOT."""

from __future__ import annotations

import pytest
import torch

from selfsup.nn.tokenizer import ClipTokenizer, fit_context


@pytest.fixture(scope="module")
def tok() -> ClipTokenizer:
    return ClipTokenizer()


def test_layout_and_vocabulary(tok: ClipTokenizer) -> None:
    ids = tok(["A frog."])
    assert ids.shape == (1, 77) and ids.dtype == torch.int64
    n = len(tok.encode("A frog.")) + 2
    assert ids[0, 0] == tok.sot_id and ids[0, n - 1] == tok.eot_id
    assert (ids[0, n:] == 0).all()
    # CLIP's vocabulary: 49,152 merges + 256 bytes... = 49,408 ids, EOT the largest (argmax pooling relies on it)
    assert tok.vocab_size == 49408 and tok.eot_id == 49407 and tok.sot_id == 49406


def test_round_trip(tok: ClipTokenizer) -> None:
    texts = ["a photo of a frog.", "fire! fire! fire!", "saturn, the one with the most rings"]
    for text, row in zip(texts, tok(texts), strict=True):
        assert tok.decode(row) == text.replace(".", " .").replace("!", " !").replace(",", " ,").replace(
            "  ", " "
        )


def test_matches_open_clip_tokenize(tok: ClipTokenizer) -> None:
    import open_clip

    texts = ["A “Sierra Beauty” apple.", "Rook. Can only move forward, back, left or right. " * 8]
    assert torch.equal(tok(texts), open_clip.tokenize(texts))


def test_truncation_keeps_eot(tok: ClipTokenizer) -> None:
    long = "word " * 200
    ids = tok([long, "short"], context_length=10)
    assert ids.shape == (2, 10)
    assert ids[0, -1] == tok.eot_id and (ids[0] == tok.eot_id).sum() == 1
    assert tok.decode(ids[0]) == " ".join(["word"] * 8)
    assert ids[1, 0] == tok.sot_id and (ids[1] == tok.eot_id).sum() == 1


def test_fit_context_pads_and_truncates(tok: ClipTokenizer) -> None:
    ids = tok(["one two three four five six", "one"], context_length=12)
    short = fit_context(ids, 5, tok.eot_id)
    assert short.shape == (2, 5) and (short == tok.eot_id).sum(dim=1).tolist() == [1, 1]
    assert short[0, -1] == tok.eot_id
    assert torch.equal(short[1], ids[1, :5])  # EOT still inside: untouched
    long = fit_context(ids, 20, tok.eot_id)
    assert torch.equal(long[:, :12], ids) and (long[:, 12:] == 0).all()


def test_bad_input(tok: ClipTokenizer) -> None:
    with pytest.raises(ValueError, match="context_length"):
        ClipTokenizer(context_length=1)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        tok(["ok", 3])  # type: ignore[list-item]
