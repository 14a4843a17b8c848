"""Video colorization -> tracking (Vondrick et al. 2018, "Tracking Emerges by Colorizing Videos").

Training pairs a color *reference* frame with a later *target* frame of the same clip. Both are shown
to the network in grayscale (Lab L); a CNN maps each to per-location embeddings ``f`` (``[N, E]`` on
its stride-s grid). Each target location j copies the reference's quantized colors through a pointer

    A_ij = exp(f_i . f_j / T) / sum_k exp(f_k . f_j / T),        y_hat_j = sum_i A_ij c_i      (eq. 1-2)

where c_i is the one-hot color class of reference location i (Lab ab, averaged over the location's
pixels, quantized to the nearest of ``num_colors`` = 16 k-means centroids, as the paper) and
T = 1. The loss is the cross-entropy between y_hat_j and the target's true color class (eq. 3).
Since colors can only be *copied*, the net must learn to point to the same physical point; at test
time the same pointer propagates masks from frame 0
(``selfsup.eval.video_segmentation``, method "colorization", via ``embed_frames``).

Inputs: ``make_batch`` takes uint8 ``[B, 6, H, W]`` = reference RGB stacked on target RGB (what
``selfsup.data.video.FramePairs`` yields). The k-means centroids are fit once, on the ab values of the
first batch, and kept in a buffer, so checkpoints carry them (the paper clusters a training-set sample;
a first batch of a few thousand locations is one). Under DDP every rank fits on the first batch of
*all* ranks (gathered) with the same fixed seed, so all ranks share one codebook, the one a single
process would fit on the whole batch.
Defaults scaled for CPU: 64-d embeddings as the paper, a small CIFAR-style ResNet (stride 4) instead
of ResNet-18 + 3D convs at stride 8 on 256 px.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import Method, MethodConfig
from selfsup.nn.distributed import all_gather_no_grad
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views.lab import normalize_l, rgb_to_lab


@dataclass
class VideoColorizationConfig(MethodConfig):
    """num_colors: k-means color classes over Lab ab (paper: 16). embed_dim: pointer embedding width
    (paper: 64). temperature: pointer softmax temperature (eq. 1 has none, i.e. 1). kmeans_iters /
    kmeans_samples: Lloyd iterations and ab samples for fitting the centroids on the first batch."""

    num_colors: int = 16
    embed_dim: int = 64
    temperature: float = 1.0
    kmeans_iters: int = 25
    kmeans_samples: int = 20000

    def validate(self) -> None:
        if self.num_colors < 2:
            raise ValueError(f"method.num_colors must be >= 2, got {self.num_colors}")
        if self.embed_dim < 1:
            raise ValueError(f"method.embed_dim must be >= 1, got {self.embed_dim}")
        if self.temperature <= 0:
            raise ValueError(f"method.temperature must be > 0, got {self.temperature}")
        if self.kmeans_iters < 1 or self.kmeans_samples < self.num_colors:
            raise ValueError(
                "method.kmeans_iters must be >= 1 and method.kmeans_samples >= method.num_colors"
            )


CODEBOOK_SEED = 0  # k-means start and subsample: the same on every rank and in every run


def kmeans(points: Tensor, k: int, iters: int, generator: torch.Generator | None = None) -> Tensor:
    """Lloyd's k-means of ``points`` ``[M, d]`` -> centroids ``[k, d]`` (k-means++-free: k random
    distinct points as the start; an emptied cluster is re-seeded at the farthest point)."""
    if points.shape[0] < k:
        raise ValueError(f"k-means needs >= {k} points, got {points.shape[0]}")
    idx = torch.randperm(points.shape[0], generator=generator, device="cpu")[:k].to(points.device)
    centroids = points[idx].clone()
    for _ in range(iters):
        assign = torch.cdist(points, centroids).argmin(1)
        for c in range(k):
            members = points[assign == c]
            if members.shape[0]:
                centroids[c] = members.mean(0)
            else:
                centroids[c] = points[torch.cdist(points, centroids).min(1).values.argmax()]
    return centroids


def pointer_copy(
    ref_embed: Tensor, tgt_embed: Tensor, ref_values: Tensor, temperature: float = 1.0
) -> Tensor:
    """Eq. 1-2: ``[B, N, E]`` reference / ``[B, M, E]`` target embeddings copy ``ref_values``
    ``[B, N, L]`` -> ``[B, M, L]`` with softmax-over-reference attention of dot products / temperature."""
    attn = torch.softmax(tgt_embed @ ref_embed.transpose(1, 2) / temperature, dim=-1)  # [B, M, N]
    return attn @ ref_values


@register_method("video_colorization")
class VideoColorization(Method):
    """See the module docstring. ``encoder``: any Backbone with ``forward_tokens`` and ``patch_size``."""

    name = "video_colorization"
    Config = VideoColorizationConfig

    def __init__(self, backbone: nn.Module, config: VideoColorizationConfig) -> None:
        super().__init__(backbone, config)
        if not getattr(backbone, "patch_size", None):
            raise ValueError(
                "video_colorization needs a backbone with a token grid (patch_size), e.g. resnet_small"
            )
        token_dim = int(getattr(backbone, "token_dim", backbone.num_features))
        self.embed_head = nn.Linear(token_dim, config.embed_dim)
        self.register_buffer("centroids", torch.zeros(config.num_colors, 2))
        self.register_buffer("centroids_ready", torch.zeros((), dtype=torch.bool))

    # ------------------------------------------------------------------ data
    def _gray(self, rgb: Tensor) -> tuple[Tensor, Tensor]:
        """uint8 ``[B, 3, H, W]`` -> (normalized L ``[B, in_chans, H, W]``, Lab ab ``[B, 2, H, W]``)."""
        lab = rgb_to_lab(rgb.float() / 255.0)
        gray = normalize_l(lab[:, :1]).expand(-1, int(self.encoder.in_chans), -1, -1)
        return gray, lab[:, 1:]

    def grid(self, height: int, width: int) -> tuple[int, int]:
        p = int(self.encoder.patch_size)
        return -(-height // p), -(-width // p)

    def color_classes(self, ab: Tensor) -> Tensor:
        """ab ``[B, 2, H, W]`` -> color class per grid location ``[B, h*w]`` (mean ab, nearest centroid)."""
        pooled = F.adaptive_avg_pool2d(ab, self.grid(*ab.shape[-2:])).flatten(2).transpose(1, 2)  # [B, N, 2]
        return torch.cdist(pooled, self.centroids.expand(pooled.shape[0], -1, -1)).argmin(-1)

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        """uint8 ``[B, 6, H, W]`` (reference RGB, target RGB) -> views [ref L, target L] and the
        targets ``ref_colors`` / ``tgt_colors`` (long ``[B, N]`` color classes on the embedding grid)."""
        if images.ndim != 4 or images.shape[1] != 6:
            raise ValueError(
                f"video_colorization expects uint8 [B, 6, H, W] frame pairs (reference RGB + target RGB), "
                f"got {tuple(images.shape)}; train it on selfsup.data.video.FramePairs"
            )
        ref_gray, ref_ab = self._gray(images[:, :3])
        tgt_gray, tgt_ab = self._gray(images[:, 3:])
        if not bool(self.centroids_ready):
            # Not the view generator: it differs between ranks, and every rank must fit the same codebook.
            every_rank = torch.cat([all_gather_no_grad(ref_ab), all_gather_no_grad(tgt_ab)])
            self._fit_centroids(every_rank, torch.Generator().manual_seed(CODEBOOK_SEED))
        targets = {"ref_colors": self.color_classes(ref_ab), "tgt_colors": self.color_classes(tgt_ab)}
        return Batch(views=[ref_gray, tgt_gray], targets=targets)

    @torch.no_grad()
    def _fit_centroids(self, ab: Tensor, generator: torch.Generator | None) -> None:
        points = F.adaptive_avg_pool2d(ab, self.grid(*ab.shape[-2:])).permute(0, 2, 3, 1).reshape(-1, 2)
        if points.shape[0] > self.config.kmeans_samples:
            pick = torch.randperm(points.shape[0], generator=generator, device="cpu")[
                : self.config.kmeans_samples
            ]
            points = points[pick.to(points.device)]
        self.centroids.copy_(
            kmeans(points.float(), self.config.num_colors, self.config.kmeans_iters, generator)
        )
        self.centroids_ready.fill_(True)

    # ------------------------------------------------------------------ model
    def embed(self, gray: Tensor) -> Tensor:
        """Normalized L ``[B, in_chans, H, W]`` -> pointer embeddings ``[B, N, embed_dim]``."""
        return self.embed_head(self.encoder.forward_tokens(gray))

    @torch.no_grad()
    def embed_frames(self, frames: Tensor) -> Tensor:
        """uint8 RGB ``[T, 3, H, W]`` -> embeddings on the grid ``[T, h, w, embed_dim]`` (for tracking)."""
        self.eval()
        out = []
        for s in range(0, frames.shape[0], 8):
            gray, _ = self._gray(frames[s : s + 8])
            out.append(self.embed(gray))
        h, w = self.grid(*frames.shape[-2:])
        return torch.cat(out).reshape(frames.shape[0], h, w, -1)

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        ref_gray, tgt_gray = batch.views
        b = ref_gray.shape[0]
        tokens = self.encoder.forward_tokens(torch.cat([ref_gray, tgt_gray]))
        embeds = self.embed_head(tokens)
        ref_onehot = F.one_hot(batch.targets["ref_colors"], self.config.num_colors).to(embeds.dtype)
        probs = pointer_copy(embeds[:b], embeds[b:], ref_onehot, self.config.temperature)  # [B, N, K]
        target = batch.targets["tgt_colors"]
        loss = F.nll_loss(probs.clamp_min(1e-8).log().flatten(0, 1), target.flatten())
        accuracy = (probs.argmax(-1) == target).float().mean()
        return StepOutput(
            loss=loss,
            metrics={"color_accuracy": accuracy.detach()},
            features=tokens[:b].mean(1).detach(),
        )
