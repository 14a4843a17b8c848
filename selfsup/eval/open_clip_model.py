"""open_clip models from a local checkpoint file, behind the zero-shot / retrieval interface.

``load_open_clip(name, checkpoint)`` builds architecture ``name`` (a built-in open_clip config such as
"ViT-B-32", or one registered from ``model_config`` = a JSON file / folder of configs) with
``open_clip.create_model(name, pretrained=checkpoint)``, which reads the file with
``torch.load(weights_only=True)`` (no pickled code runs). Nothing is downloaded.

``OpenClipModel`` exposes ``encode_images(uint8 [N, C, H, W])`` and ``encode_texts(list[str])``
returning L2-normalized embeddings, like ``selfsup.methods.clip.CLIP``: images are resized to the
model's input size (bicubic, antialiased) and normalized with its mean/std (OpenAI's statistics by
default), texts tokenized with the model's tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class OpenClipModel:
    """Zero-shot / retrieval adapter of an open_clip ``CLIP`` model.

    model:      an open_clip model (``encode_image`` / ``encode_text``).
    tokenizer:  callable list[str] -> int64 ``[N, L]`` (``open_clip.get_tokenizer(name)``).
    image_size: side the visual tower expects.
    mean, std:  per-channel normalization (``model.visual.image_mean`` / ``image_std`` or OpenAI's).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        device: str | torch.device = "cpu",
    ) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.image_size = int(image_size)
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.device = torch.device(device)

    def preprocess(self, images: Tensor) -> Tensor:
        """uint8 ``[B, C, H, W]`` (C = 1 or 3) -> normalized float ``[B, 3, S, S]``."""
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"images must be uint8 [B, 1 or 3, H, W], got {images.dtype} {tuple(images.shape)}"
            )
        x = images.float().div(255.0).expand(-1, 3, -1, -1)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(
                x, size=(self.image_size,) * 2, mode="bicubic", antialias=True, align_corners=False
            )
            x = x.clamp(0.0, 1.0)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def encode_images(self, images: Tensor, batch_size: int = 128) -> Tensor:
        out = [
            self.model.encode_image(self.preprocess(chunk).to(self.device), normalize=True).float().cpu()
            for chunk in images.split(batch_size)
        ]
        return torch.cat(out)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        texts = list(texts)
        out = [
            self.model.encode_text(self.tokenizer(texts[i : i + batch_size]).to(self.device), normalize=True)
            .float()
            .cpu()
            for i in range(0, len(texts), batch_size)
        ]
        return torch.cat(out)


def load_open_clip(
    name: str,
    checkpoint: str | Path,
    model_config: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> OpenClipModel:
    """open_clip architecture ``name`` with weights from the local file ``checkpoint``.

    model_config: a JSON config file (or folder of them) registered with ``open_clip.add_model_config``
                  first, for architectures that are not built in (the file's stem is the name).
    """
    import open_clip
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    checkpoint = Path(checkpoint).expanduser()
    if not checkpoint.is_file():
        raise FileNotFoundError(
            f"open_clip checkpoint {checkpoint} does not exist; pass a local weights file"
        )
    if model_config is not None:
        if not Path(model_config).exists():
            raise FileNotFoundError(f"open_clip model config {model_config} does not exist")
        open_clip.add_model_config(model_config)
    if name not in open_clip.list_models():
        raise ValueError(
            f"unknown open_clip architecture {name!r}; use a built-in one (open_clip.list_models()) or pass "
            "model_config=JSON (--open-clip-config) whose file name is the architecture name"
        )
    model = open_clip.create_model(name, pretrained=str(checkpoint), device=device)
    visual = model.visual
    size = visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    mean = getattr(visual, "image_mean", None) or OPENAI_DATASET_MEAN
    std = getattr(visual, "image_std", None) or OPENAI_DATASET_STD
    return OpenClipModel(model, open_clip.get_tokenizer(name), int(size), mean, std, device)
