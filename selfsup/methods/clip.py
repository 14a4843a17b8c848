"""CLIP (Radford et al. 2021): contrastive image-text pre-training, zero-shot classification, retrieval.

An image encoder (any ``Backbone``, pooled features ``[B, D]``) and a causal text transformer
(``selfsup.nn.text_transformer``) are linearly projected to one embedding size; the symmetric
InfoNCE of ``selfsup.losses.clip`` with a learnable temperature pulls each image toward its caption
and away from the other captions of the global batch.

Data: a caption dataset (``selfsup.data.captions``, e.g. ``data.name=stamps_captions``) yields
``(image, caption token ids [L], index)``; the trainer hands the ids to ``make_batch`` as ``labels``.
Augmentation is CLIP's only one, a random square crop (§2.5); ``method.views`` can add more.

Zero-shot use: ``encode_images(uint8 images)`` and ``encode_texts(list of str)`` return L2-normalized
embeddings ``[N, embed_dim]`` (the interface of ``selfsup.eval.zeroshot`` / ``retrieval``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.losses.clip import ClipLoss
from selfsup.methods.base import Method, MethodConfig, view_generator
from selfsup.nn.text_transformer import TextTransformer
from selfsup.nn.tokenizer import ClipTokenizer, fit_context
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import ViewRecipe
from selfsup.views.two_view import apply_recipe, eval_transform


def _clip_views() -> ViewRecipe:
    # CLIP §2.5: "A random square crop from resized images is the only data augmentation."
    return ViewRecipe(
        crop_scale=(0.8, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0
    )


@dataclass
class ClipConfig(MethodConfig):
    embed_dim: int = 512  # shared embedding size of CLIP ViT-B/32 (Radford et al. 2021, Table 20)
    text_width: int = 512  # CLIP's base text transformer: 512 wide, 12 layers, 8 heads
    text_layers: int = 12
    text_heads: int = 8
    context_length: int = 77  # CLIP §2.4: 76 BPE tokens + SOT/EOT
    text_pool: str = "argmax"  # EOT read at the largest id (CLIP) or "first_eot"
    init_temperature: float = 0.07  # CLIP §2.5
    max_logit_scale: float = 100.0  # CLIP §2.5; the parameter is clamped after each optimizer step
    learnable_temperature: bool = True
    view_size: int | None = None  # crop output size; None: the input size
    views: ViewRecipe = field(default_factory=_clip_views)

    def validate(self) -> None:
        for name in ("embed_dim", "text_width", "text_layers", "text_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"method.{name} must be >= 1, got {getattr(self, name)}")
        if self.text_width % self.text_heads:
            raise ValueError(
                f"method.text_width ({self.text_width}) must be divisible by method.text_heads ({self.text_heads})"
            )
        if self.context_length < 2:
            raise ValueError(f"method.context_length must be >= 2 (SOT and EOT), got {self.context_length}")
        if self.text_pool not in ("argmax", "first_eot"):
            raise ValueError(f"method.text_pool must be 'argmax' or 'first_eot', got {self.text_pool!r}")
        if not self.init_temperature > 0 or not self.max_logit_scale >= 1:
            raise ValueError(
                "method.init_temperature must be > 0 and method.max_logit_scale >= 1 (CLIP: 100)"
            )
        if not 1.0 <= 1.0 / self.init_temperature <= self.max_logit_scale:
            raise ValueError(
                f"method.init_temperature={self.init_temperature} must lie in "
                f"[1/method.max_logit_scale, 1] = [{1.0 / self.max_logit_scale:.4g}, 1] (CLIP: 0.07)"
            )


@register_method("clip")
class CLIP(Method):
    """Image encoder + projection and text transformer trained with the symmetric CLIP loss."""

    Config = ClipConfig
    min_batch_size = 2  # each pair needs at least one other caption as a negative

    def __init__(self, backbone: nn.Module, config: ClipConfig) -> None:
        super().__init__(backbone, config)
        self.tokenizer = ClipTokenizer(config.context_length)
        self.image_projection = nn.Linear(backbone.num_features, config.embed_dim, bias=False)
        nn.init.normal_(self.image_projection.weight, std=backbone.num_features**-0.5)
        self.text = TextTransformer(
            vocab_size=self.tokenizer.vocab_size,
            context_length=config.context_length,
            width=config.text_width,
            layers=config.text_layers,
            heads=config.text_heads,
            out_dim=config.embed_dim,
            pool=config.text_pool,
            eot_id=self.tokenizer.eot_id,
        )
        self.loss_fn = ClipLoss(config.init_temperature, config.max_logit_scale, config.learnable_temperature)
        self.pixel_mean, self.pixel_std = config.views.mean, config.views.std
        self._recipes: dict[int, ViewRecipe] = {}

    def _recipe(self, size: int) -> ViewRecipe:
        if size not in self._recipes:
            self._recipes[size] = dataclasses.replace(self.config.views, size=size)
        return self._recipes[size]

    def fit_tokens(self, tokens: Tensor) -> Tensor:
        """Token ids ``[B, L]`` padded / truncated (EOT kept) to ``method.context_length``."""
        return fit_context(tokens, self.config.context_length, self.tokenizer.eot_id)

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        """One square-cropped view and the caption ids: ``labels`` must be token ids ``[B, L]``."""
        if labels is None or labels.dim() != 2:
            got = "none" if labels is None else f"shape {tuple(labels.shape)}"
            raise ValueError(
                f"clip needs caption token ids [B, L] as the dataset's second item, got {got}; train on a "
                "caption dataset (data.name=stamps_captions | fashion_mnist_captions | captions data.root=FILE)"
            )
        generator = view_generator(images, generator)
        size = self.config.view_size or images.shape[-1]
        view = apply_recipe(images, self._recipe(size), generator)
        return Batch(views=[view], targets={"tokens": self.fit_tokens(labels)})

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        features = self.encoder(batch.views[0])
        image = self.image_projection(features)
        text = self.text(batch.targets["tokens"])
        loss, accuracy = self.loss_fn.forward_with_accuracy(image, text)
        return StepOutput(
            loss=loss,
            metrics={"clip_acc": accuracy, "logit_scale": self.loss_fn.scale.detach()},
            features=features,
        )

    def after_optimizer_step(self, progress: Progress) -> None:
        # open_clip clamps the parameter after the step (not the scale in the forward), so a scale
        # that reached 100 keeps its gradient and can come back down.
        self.loss_fn.clamp_scale_()

    # -- zero-shot / retrieval interface ---------------------------------------------------------
    @property
    def _device(self) -> torch.device:
        return self.image_projection.weight.device

    @torch.no_grad()
    def encode_images(self, images: Tensor, batch_size: int = 256) -> Tensor:
        """uint8 ``[N, C, H, W]`` -> L2-normalized image embeddings ``[N, embed_dim]`` (float32, CPU)."""
        size = self.config.view_size or images.shape[-1]
        mean, std = self.normalization()
        was_training = self.training
        self.eval()
        try:
            out = []
            for chunk in images.split(batch_size):
                x = eval_transform(chunk.to(self._device), size, mean, std)
                out.append(F.normalize(self.image_projection(self.encoder(x)).float(), dim=-1).cpu())
        finally:
            self.train(was_training)
        return torch.cat(out)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """Texts -> L2-normalized text embeddings ``[N, embed_dim]`` (float32, CPU)."""
        tokens = self.tokenizer(list(texts))
        return self.encode_tokens(tokens, batch_size)

    @torch.no_grad()
    def encode_tokens(self, tokens: Tensor, batch_size: int = 256) -> Tensor:
        """Token ids ``[N, L]`` -> L2-normalized text embeddings ``[N, embed_dim]`` (float32, CPU)."""
        was_training = self.training
        self.eval()
        try:
            out = [
                F.normalize(self.text(self.fit_tokens(t).to(self._device)).float(), dim=-1).cpu()
                for t in tokens.split(batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(out)
