"""CPC on images: predict the latents of patches below from a masked context of the patches above.

Contrastive Predictive Coding (van den Oord, Li, Vinyals 2018, §3.2) for images, as refined by Hénaff
et al. 2019 ("Data-Efficient Image Recognition with Contrastive Predictive Coding"):

1. each image ``[C, H, W]`` is cut into an overlapping grid of patches (side ``patch_size``, stride half
   of it: 50 % overlap, as both papers), giving a ``Gh x Gw`` grid;
2. the backbone encodes every patch to a pooled latent ``z_{i,j}`` (``[B, D, Gh, Gw]``);
3. a masked context network (:class:`selfsup.nn.causal_context.MaskedContext2d`) gives ``c_{i,j}``,
   a function of rows ``≤ i`` only;
4. for each offset ``k`` a linear predictor ``W_k`` maps ``c_{i,j}`` to a prediction of ``z_{i+k,j}``,
   scored by InfoNCE (:func:`selfsup.losses.cpc.cpc_info_nce`) against all latents of the batch — other
   patches of the same image and of other images are the negatives.

Patch-level augmentation (Hénaff et al. 2019, §3 "patch-based augmentation"): after the whole-image view
is cut into patches, every patch is augmented on its own (``patch_views``: a small random resized crop,
flip and brightness/contrast jitter drawn per patch). Without it the overlapping patches of one view share
pixels, edges and global intensity, and the predictors can match a future patch by that low-level
continuity instead of by content; ``first_offset: 2`` further skips the row that overlaps the context's
last row (Löwe et al. 2019's Greedy InfoMax code likewise predicts row ``i + k + 1`` from row ``i``).

The pretext metric is the fraction of predictions whose true latent scores highest. ``method.encoder`` is
a ``PatchGridBackbone``: the patch encoder applied over the same grid, latents averaged, so evaluation and
export represent an image the way CPC does (Hénaff et al. 2019, §4.1).
The paper's encoders avoid batch norm, whose batch statistics mix patches; with a BN backbone the
statistics come from all patches of the batch together, which we accept for CPU-sized demos.
Feeding whole images to the patch encoder instead (a mismatch with training) left CPC level with the
random-init encoder on Fashion-MNIST kNN, while the patch-grid mean scored ~3 points above the
random-init encoder evaluated the same way (BENCHMARKS.md §5).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.backbones.patch_grid import PatchGridBackbone
from selfsup.losses.cpc import cpc_info_nce
from selfsup.methods.base import Method, MethodConfig, view_generator
from selfsup.nn.causal_context import MaskedContext2d
from selfsup.nn.patches import patch_grid
from selfsup.registry import register_method
from selfsup.types import Batch, Progress, StepOutput
from selfsup.views import ViewRecipe, apply_recipe

# Hénaff et al. use heavy per-patch augmentation; on small grayscale images a mild crop, flip and
# contrast/brightness jitter of the whole image is enough to vary the patches.
_CPC_VIEWS = ViewRecipe(crop_scale=(0.6, 1.0), jitter_strength=0.5, grayscale_p=0.0, blur_p=0.0)
# Per-patch augmentation (Hénaff et al. 2019): each patch gets its own crop (area 0.5-1 of the patch,
# resized back), flip and jitter. Colour dropping, their choice for RGB, is moot for grayscale.
_CPC_PATCH_VIEWS = ViewRecipe(crop_scale=(0.5, 1.0), jitter_strength=0.8, grayscale_p=0.0, blur_p=0.0)


@dataclass
class CPCConfig(MethodConfig):
    patch_size: int = 8  # Hénaff et al.: 64 px patches of 256 px images (1/4 side); 8 of 28 px here
    patch_stride: int | None = None  # None: patch_size // 2 (50 % overlap, both papers)
    context_dim: int | None = None  # None: the encoder width
    context_layers: int = 3  # causal blocks: the context sees up to 3 rows above
    pred_steps: int = 3  # predict k = first_offset .. first_offset + pred_steps - 1 rows ahead (CPC: up to 5)
    first_offset: int = 1  # 1 as in CPC; 2 skips the row that overlaps the context's last row
    temperature: float | None = None  # None: bilinear score z·W_k c (paper); a float: cosine / τ
    view_size: int | None = None
    views: ViewRecipe = dataclasses.field(default_factory=lambda: _CPC_VIEWS)
    # Per-patch augmentation (Hénaff et al. 2019); None cuts the patches from the view unchanged. Its
    # size and normalization are taken from patch_size and `views`.
    patch_views: ViewRecipe | None = dataclasses.field(default_factory=lambda: _CPC_PATCH_VIEWS)

    def validate(self) -> None:
        if self.patch_size < 1:
            raise ValueError(f"method.patch_size must be >= 1, got {self.patch_size}")
        if self.patch_stride is not None and self.patch_stride < 1:
            raise ValueError(f"method.patch_stride must be >= 1, got {self.patch_stride}")
        if self.pred_steps < 1 or self.first_offset < 1:
            raise ValueError("method.pred_steps and method.first_offset must be >= 1")
        if self.context_layers < 0:
            raise ValueError(f"method.context_layers must be >= 0, got {self.context_layers}")
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"method.temperature must be > 0 or null, got {self.temperature}")

    @property
    def stride(self) -> int:
        return self.patch_stride or max(1, self.patch_size // 2)

    @property
    def offsets(self) -> list[int]:
        return list(range(self.first_offset, self.first_offset + self.pred_steps))


@register_method("cpc")
class CPC(Method):
    """Image CPC: patch encoder, masked context over rows, one linear predictor per row offset."""

    Config = CPCConfig

    def __init__(self, backbone: nn.Module, config: CPCConfig) -> None:
        super().__init__(backbone, config)
        # Evaluation and export see whole images: the encoder they get cuts the same patch grid and
        # averages the patch latents (Hénaff et al. 2019, §4.1); training uses the patch encoder inside.
        self.encoder = PatchGridBackbone(backbone, config.patch_size, config.stride)
        width = backbone.num_features
        ctx = config.context_dim or width
        self.context = MaskedContext2d(width, ctx, layers=config.context_layers)
        # One W_k per offset (the paper's f_k = exp(z^T W_k c)), as 1x1 convs over the context grid.
        self.predictors = nn.ModuleList(nn.Conv2d(ctx, width, 1, bias=False) for _ in config.offsets)
        self.pixel_mean, self.pixel_std = config.views.mean, config.views.std

    def make_batch(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        generator = view_generator(images, generator)
        size = self.config.view_size or images.shape[-1]
        view = apply_recipe(images, dataclasses.replace(self.config.views, size=size), generator)
        targets = {}
        if self.config.patch_views is not None:
            targets["patches"] = self.augment_patches(view, generator)
        return Batch(views=[view], targets=targets)

    def augment_patches(self, view: Tensor, generator: torch.Generator) -> Tensor:
        """The patches of ``view [B, C, H, W]`` (normalized), each augmented independently: ``[B G, C, p, p]``.

        The patches are mapped back to [0, 1] with the view's normalization, run through ``patch_views``
        (one random draw per patch) and normalized again the same way, so evaluation's normalization holds.
        """
        patches, _, _ = patch_grid(view, self.config.patch_size, self.config.stride)
        mean, std = self.normalization()
        shape = (1, -1, 1, 1)
        m = torch.tensor(mean, dtype=view.dtype, device=view.device).view(shape)
        s = torch.tensor(std, dtype=view.dtype, device=view.device).view(shape)
        recipe = dataclasses.replace(
            self.config.patch_views, size=self.config.patch_size, mean=tuple(mean), std=tuple(std)
        )
        return apply_recipe((patches * s + m).clamp_(0.0, 1.0), recipe, generator)

    def latents(self, x: Tensor) -> Tensor:
        """Patch latents ``[B, D, Gh, Gw]`` of views ``x [B, C, H, W]`` (patches cut without augmentation)."""
        patches, gh, gw = patch_grid(x, self.config.patch_size, self.config.stride)
        return self._grid_latents(patches, x.shape[0], gh, gw)

    def _grid_latents(self, patches: Tensor, b: int, gh: int, gw: int) -> Tensor:
        z = self.encoder.inner(patches)  # [B Gh Gw, D]
        return z.reshape(b, gh, gw, -1).permute(0, 3, 1, 2)

    def batch_latents(self, batch: Batch) -> Tensor:
        """Latents ``[B, D, Gh, Gw]`` of a training batch: of its augmented patches when it has them."""
        view = batch.views[0]
        if "patches" not in batch.targets:
            return self.latents(view)
        _, gh, gw = patch_grid(view[:1], self.config.patch_size, self.config.stride)
        return self._grid_latents(batch.targets["patches"], view.shape[0], gh, gw)

    def training_step(self, batch: Batch, progress: Progress) -> StepOutput:
        z = self.batch_latents(batch)  # [B, D, Gh, Gw]
        b, d, gh, gw = z.shape
        offsets = [k for k in self.config.offsets if k < gh]
        if not offsets:
            raise ValueError(
                f"the patch grid has {gh} rows, too few to predict {self.config.first_offset} rows ahead; "
                "lower method.patch_size or method.first_offset"
            )
        c = self.context(z)  # [B, C, Gh, Gw]
        candidates = z.permute(0, 2, 3, 1).reshape(b * gh * gw, d)  # row (b, i, j) = b Gh Gw + i Gw + j
        grid = torch.arange(b * gh * gw, device=z.device).reshape(b, gh, gw)
        preds, targets = [], []
        for k, predictor in zip(self.config.offsets, self.predictors, strict=False):
            if k >= gh:
                break
            p = predictor(c[:, :, : gh - k])  # predictions for rows k .. Gh-1 from rows 0 .. Gh-k-1
            preds.append(p.permute(0, 2, 3, 1).reshape(-1, d))
            targets.append(grid[:, k:].reshape(-1))
        loss, accuracy = cpc_info_nce(
            torch.cat(preds), candidates, torch.cat(targets), self.config.temperature
        )
        with torch.no_grad():
            features = z.mean(dim=(2, 3))  # patch-averaged latent: the image feature CPC evaluates
        return StepOutput(loss=loss, metrics={"cpc_acc": accuracy}, features=features)
