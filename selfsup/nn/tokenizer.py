"""CLIP's byte-pair-encoding tokenizer (Radford et al. 2021, §2.4), wrapped from open_clip.

The 49,152-merge lower-cased BPE vocabulary (49,408 ids with the start/end-of-text tokens)
ships inside the ``open_clip_torch`` package, so nothing is downloaded. A caption becomes
``[SOT] + bpe(text) + [EOT]`` padded with zeros to ``context_length`` (77 in CLIP). Captions
that are too long are cut and their last token is replaced by EOT, so every row holds exactly
one EOT: the text transformer reads its feature there.

    tok = ClipTokenizer()
    ids = tok(["a photo of a frog."])   # int64 [1, 77]
    tok.decode(ids[0])                  # "a photo of a frog ."
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

CONTEXT_LENGTH = 77  # CLIP's text context (Radford et al. 2021, §2.5)
_MODULE: ModuleType | None = None


def _open_clip_tokenizer_module() -> ModuleType:
    """``open_clip/tokenizer.py`` loaded on its own.

    Importing the ``open_clip`` package pulls in its models, timm and torchvision (~7 s on 2 busy
    cores); its tokenizer module has no package-relative imports and finds its vocabulary next to
    itself, so it is loaded from its file. Falls back to the normal import if that layout changes.
    """
    global _MODULE
    if _MODULE is None:
        spec = importlib.util.find_spec("open_clip")
        origin = Path(spec.origin).parent / "tokenizer.py" if spec and spec.origin else None
        try:
            if origin is None or not origin.is_file():
                raise ImportError("open_clip/tokenizer.py not found")
            mod_spec = importlib.util.spec_from_file_location("_selfsup_open_clip_tokenizer", origin)
            module = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(module)
        except (ImportError, OSError, AttributeError):
            module = importlib.import_module("open_clip.tokenizer")
        _MODULE = module
    return _MODULE


def fit_context(tokens: Tensor, context_length: int, eot_id: int) -> Tensor:
    """Pad (with 0) or truncate int64 ``[N, L]`` token rows to ``[N, context_length]``.

    A row cut short keeps an EOT in its last position (as CLIP's tokenizer does), so pooling at
    the EOT still finds one.
    """
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be [N, L] token ids, got shape {tuple(tokens.shape)}")
    if context_length < 2:
        raise ValueError(f"context_length must be >= 2 (SOT and EOT), got {context_length}")
    n, length = tokens.shape
    if length == context_length:
        return tokens
    if length < context_length:
        return torch.cat([tokens, tokens.new_zeros(n, context_length - length)], dim=1)
    out = tokens[:, :context_length].clone()
    # Rows whose EOT fell off get one in the last slot; rows that still hold it are left alone.
    lost = ~(out == eot_id).any(dim=1)
    out[lost, -1] = eot_id
    return out


class ClipTokenizer:
    """open_clip's ``SimpleTokenizer`` with CLIP's layout: ``[SOT] bpe [EOT] 0 ...`` of ``context_length``.

    context_length: tokens per caption, 77 as in CLIP; longer captions are truncated keeping EOT.
    """

    def __init__(self, context_length: int = CONTEXT_LENGTH) -> None:
        if context_length < 2:
            raise ValueError(f"context_length must be >= 2 (SOT and EOT), got {context_length}")
        self._bpe = _open_clip_tokenizer_module().SimpleTokenizer(context_length=context_length)
        self.context_length = int(context_length)
        self.sot_id = int(self._bpe.sot_token_id)
        self.eot_id = int(self._bpe.eot_token_id)
        self.vocab_size = len(self._bpe.encoder)

    def encode(self, text: str) -> list[int]:
        """BPE ids of ``text`` without SOT/EOT (lower-cased, whitespace-cleaned as in CLIP)."""
        return list(self._bpe.encode(text))

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> Tensor:
        """int64 ``[N, context_length]`` ids of ``texts`` (a string counts as one text)."""
        if isinstance(texts, str):
            texts = [texts]
        length = self.context_length if context_length is None else int(context_length)
        if length < 2:
            raise ValueError(f"context_length must be >= 2 (SOT and EOT), got {length}")
        out = torch.zeros(len(texts), length, dtype=torch.int64)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
            ids = [self.sot_id, *self.encode(text), self.eot_id]
            if len(ids) > length:
                ids = ids[:length]
                ids[-1] = self.eot_id
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return out

    def decode(self, ids: Tensor | Sequence[int]) -> str:
        """Text of one row of ids; SOT, EOT and what follows EOT (the zero padding) are dropped.

        Id 0 is also the BPE token "!", so padding is recognised by position (after EOT), not value.
        """
        ids = [int(i) for i in (ids.tolist() if isinstance(ids, Tensor) else ids)]
        if ids and ids[0] == self.sot_id:
            ids = ids[1:]
        if self.eot_id in ids:
            ids = ids[: ids.index(self.eot_id)]
        return self._bpe.decode(ids).strip()

    def __repr__(self) -> str:
        return f"ClipTokenizer(context_length={self.context_length}, vocab_size={self.vocab_size})"
