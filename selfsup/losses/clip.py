"""CLIP's symmetric image-text contrastive loss (Radford et al. 2021, Fig. 3) with a learnable scale.

For L2-normalized image features ``u [B, E]`` and text features ``v [B, E]`` of matching pairs and
scale ``s = exp(t)`` (``t`` learnable, initialised to ``log(1/0.07)``, ``s`` clipped at 100 as in
§2.5 — by clamping the parameter after each optimizer step, :meth:`ClipLoss.clamp_scale_`), the logits are ``s · u vᵀ`` and the loss is the mean of the image→text and text→image
cross-entropies with the pair on the diagonal as the target:

    L = ½ [ CE(s · u vᵀ, diag) + CE(s · v uᵀ, diag) ]

Across ranks, each rank's local rows are scored against the *gathered* features of all ranks
(``gather_with_grad``), so the global batch provides the negatives; the per-rank loss is the mean
over local rows, and DDP's gradient average then equals single-process training on the
concatenated batch when ranks hold equal batches (see ``selfsup/nn/distributed.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.nn.distributed import all_gather_sizes, gather_with_grad, get_rank

INIT_TEMPERATURE = 0.07  # CLIP §2.5: temperature initialised to 0.07
MAX_SCALE = 100.0  # CLIP §2.5: logit scale clipped at 100 to prevent instability


def clip_logits(image: Tensor, text: Tensor, scale: Tensor | float) -> tuple[Tensor, Tensor, Tensor]:
    """(image→text logits ``[B, N]``, text→image logits ``[B, N]``, targets ``[B]``) of the local rows.

    ``image``/``text``: normalized ``[B, E]`` local features; ``N`` = the global batch.
    """
    sizes = all_gather_sizes(image.shape[0], image.device)
    all_image = gather_with_grad(image, sizes)
    all_text = gather_with_grad(text, sizes)
    offset = sum(sizes[: get_rank()])
    targets = torch.arange(image.shape[0], device=image.device) + offset
    return scale * image @ all_text.T, scale * text @ all_image.T, targets


def clip_loss(image: Tensor, text: Tensor, scale: Tensor | float) -> Tensor:
    """Symmetric CLIP loss of normalized local features ``[B, E]`` at logit scale ``scale`` (a scalar)."""
    logits_i, logits_t, targets = clip_logits(image, text, scale)
    return 0.5 * (F.cross_entropy(logits_i, targets) + F.cross_entropy(logits_t, targets))


class ClipLoss(nn.Module):
    """Symmetric InfoNCE over image-text pairs with a learnable logit scale.

    init_temperature: 0.07 (CLIP §2.5), i.e. scale ``1/0.07 ≈ 14.3``; stored as ``log_scale``.
    max_scale:        100 (CLIP §2.5). As in open_clip, the forward uses ``exp(log_scale)`` as it is and
                      the *parameter* is clamped to ``[0, log(max_scale)]`` after each optimizer step
                      (:meth:`clamp_scale_`; open_clip ``src/training/train.py``: ``logit_scale.clamp_(0,
                      math.log(100))``). A clamp inside the forward would zero the scale's gradient once it
                      reached the bound, so it could never come back down.
    learnable:        False freezes the scale (a fixed temperature).
    """

    def __init__(
        self, init_temperature: float = INIT_TEMPERATURE, max_scale: float = MAX_SCALE, learnable: bool = True
    ) -> None:
        super().__init__()
        if not init_temperature > 0:
            raise ValueError(f"init_temperature must be > 0, got {init_temperature}")
        if not max_scale >= 1:
            raise ValueError(f"max_scale must be >= 1 (CLIP: 100), got {max_scale}")
        if not 1.0 <= 1.0 / init_temperature <= max_scale:
            raise ValueError(
                f"init_temperature={init_temperature} gives logit scale {1.0 / init_temperature:.4g}, outside "
                f"the clamp range [1, max_scale={max_scale}]: use a temperature in [{1.0 / max_scale:.4g}, 1] "
                "(CLIP: 0.07)"
            )
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)), requires_grad=learnable)
        self.max_scale = float(max_scale)

    @property
    def scale(self) -> Tensor:
        """The logit scale ``exp(log_scale)`` (0-d), within [1, max_scale] after :meth:`clamp_scale_`."""
        return self.log_scale.exp()

    @torch.no_grad()
    def clamp_scale_(self) -> None:
        """In place: ``log_scale`` into ``[0, log(max_scale)]``; call after every optimizer step."""
        self.log_scale.clamp_(0.0, math.log(self.max_scale))

    def forward(self, image: Tensor, text: Tensor) -> Tensor:
        """Loss of image ``[B, E]`` and text ``[B, E]`` features of matching pairs (normalized here)."""
        loss, _ = self.forward_with_accuracy(image, text)
        return loss

    def forward_with_accuracy(self, image: Tensor, text: Tensor) -> tuple[Tensor, Tensor]:
        """(loss, image→text top-1 accuracy of the local rows over the global batch, detached)."""
        if image.dim() != 2 or image.shape != text.shape:
            raise ValueError(
                f"image and text features must both be [B, E] of one shape, got "
                f"{tuple(image.shape)} and {tuple(text.shape)}"
            )
        # At least float32 (bf16 autocast features are upcast); float64 stays float64 for tests.
        dtype = torch.promote_types(image.dtype, torch.float32)
        image = F.normalize(image.to(dtype), dim=-1)
        text = F.normalize(text.to(dtype), dim=-1)
        logits_i, logits_t, targets = clip_logits(image, text, self.scale)
        loss = 0.5 * (F.cross_entropy(logits_i, targets) + F.cross_entropy(logits_t, targets))
        with torch.no_grad():
            accuracy = (logits_i.argmax(dim=1) == targets).float().mean()
        return loss, accuracy
