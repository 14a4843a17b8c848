"""Semi-supervised video object segmentation on frozen features: given frame 0's mask, segment the rest.

Methods (each returns uint8 ``[T, H, W]`` object ids; frame 0 is the given mask, as in DAVIS):

- ``"classifier"``: the one-shot per-patch classifier. Patch features of frame 0 (``[h, w, D]`` from
  ``Backbone.forward_tokens`` on the backbone's patch grid) are labelled with the mask's area
  fractions per patch (one class per object + background; void excluded), a small MLP (or a
  logistic regression) is fit on frame 0 only, and its class probabilities on every later frame are
  upsampled bilinearly to pixels and arg-maxed.
- ``"propagation"``: DINO's label propagation (``selfsup.eval.label_propagation``). By default it is
  DINO's published protocol end to end (Caron et al. 2021; ``eval_video_segmentation.py``): frames
  resized by ``dino_input_size`` and normalized with DINO's mean / std (``PatchFeatures``' defaults),
  last-layer patch tokens, first-frame labels nearest-downsampled and one-hot (``nearest_labels``),
  ``labels_to_ids`` for the output. ``labels="area"`` / ``output="direct"`` give the older choices.
- ``"colorization"``: the same propagation through a video-colorization embedding with the paper's
  pointer (raw dot products, temperature 1; Vondrick et al. 2018).
- ``"copy"``: the trivial baseline, frame 0's mask on every frame.

``PatchFeatures`` turns uint8 frames into the ``[T, h, w, D]`` grid any of them consumes.

Void (255) in the first frame's mask is background for "nearest" labels (the DAVIS evaluation
counts void as background too; DINO's script would make it a 256th class) and is left out of the
area fractions of "area" labels.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn
from tqdm import tqdm

from selfsup.data.davis import VOID, load_sequence, sequence_names, write_mask
from selfsup.eval.label_propagation import (
    N_RECENT,
    RADIUS,
    TEMPERATURE,
    TOPK,
    labels_to_ids,
    propagate_labels,
)

METHODS = ("classifier", "propagation", "colorization", "copy")
LABELS = ("nearest", "area")
OUTPUTS = ("dino", "direct")
FeatureFn = Callable[[Tensor], Tensor]  # uint8 [T, 3, H, W] -> float [T, h, w, D]

# eval_video_segmentation.py, color_normalize: the ImageNet mean and std as the script writes them,
# with 0.228 (not torchvision's 0.229) for red.
DINO_MEAN = (0.485, 0.456, 0.406)
DINO_STD = (0.228, 0.224, 0.225)
SHORT_SIDE = 480  # read_frame(scale_size=[480])
SIZE_MULTIPLE = 64  # the long side is floored to a multiple of 64


def dino_input_size(height: int, width: int, short_side: int = SHORT_SIDE) -> tuple[int, int]:
    """``(H', W')`` DINO's ``read_frame`` resizes a ``height x width`` frame to: the short side becomes
    ``short_side``, the long side is scaled alike and floored to a multiple of 64 (854x480 -> 832x480);
    a square frame counts as landscape (its width is floored)."""
    if height < 1 or width < 1 or short_side < 1:
        raise ValueError(f"frame size {height}x{width} and short side {short_side} must be positive")
    if height > width:
        return int((short_side * height / width) // SIZE_MULTIPLE * SIZE_MULTIPLE), short_side
    return short_side, int((short_side * width / height) // SIZE_MULTIPLE * SIZE_MULTIPLE)


@dataclass
class PatchFeatures:
    """Frozen patch features: ``__call__(uint8 [T, 3, H, W]) -> [T, h, w, D]``.

    Frames are converted to the encoder's channels (RGB -> luma for grayscale models), resized,
    scaled to [0, 1], normalized with ``mean`` / ``std`` (None: not normalized) and fed through
    ``encoder.forward_tokens`` (last-layer patch tokens); the grid is the input size / patch size.

    Sizes: ``input_size`` (height, width), a multiple of the patch size, when given; else with
    ``short_side`` DINO's rule (``dino_input_size``) and its resampling (bilinear without
    antialiasing, rounded to 8-bit levels, as ``cv2.resize`` on the uint8 frame), the remainder
    past a multiple of the patch size cropped off (a strided patch embedding ignores it); else
    (``short_side=None``) the frame size floored to a multiple of the patch size. Explicit and
    floored sizes use antialiased bilinear resampling.

    The defaults are DINO's protocol (mean, std and short side 480 of ``eval_video_segmentation.py``).
    """

    encoder: nn.Module
    mean: Sequence[float] | None = DINO_MEAN
    std: Sequence[float] | None = DINO_STD
    input_size: tuple[int, int] | None = None
    short_side: int | None = SHORT_SIDE
    batch_size: int = 8

    @property
    def patch_size(self) -> int:
        patch = getattr(self.encoder, "patch_size", None)
        if not patch:
            raise ValueError("the encoder records no patch_size, so its tokens cannot be placed on a grid")
        return int(patch)

    def _resize(self, x: Tensor) -> Tensor:
        """uint8 ``[B, C, H, W]`` -> float ``[B, C, H', W']`` in [0, 1] on a whole patch grid."""
        patch, (fh, fw) = self.patch_size, x.shape[-2:]
        if self.input_size is None and self.short_side is not None:
            size = dino_input_size(fh, fw, self.short_side)
            y = x.float()
            if size != (fh, fw):
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False, antialias=False)
                y = y.round().clamp(0, 255)
            return y[..., : size[0] // patch * patch, : size[1] // patch * patch] / 255.0
        hin, win = self.input_size or (fh // patch * patch, fw // patch * patch)
        if hin % patch or win % patch or hin < 1 or win < 1:
            raise ValueError(f"input size {hin}x{win} must be a positive multiple of the patch size {patch}")
        y = x.float() / 255.0
        return F.interpolate(y, size=(hin, win), mode="bilinear", antialias=True, align_corners=False)

    @torch.no_grad()
    def __call__(self, frames: Tensor) -> Tensor:
        from selfsup.views.channels import match_channels

        patch = self.patch_size
        self.encoder.eval()
        out = []
        for s in range(0, frames.shape[0], self.batch_size):
            x = self._resize(match_channels(frames[s : s + self.batch_size], int(self.encoder.in_chans)))
            if self.mean is not None and self.std is not None:
                x = (x - torch.tensor(self.mean).view(1, -1, 1, 1)) / torch.tensor(self.std).view(1, -1, 1, 1)
            tokens = self.encoder.forward_tokens(x)
            h, w = x.shape[-2] // patch, x.shape[-1] // patch
            if tokens.shape[1] != h * w:
                raise ValueError(f"encoder returned {tokens.shape[1]} tokens for a {h}x{w} patch grid")
            out.append(tokens.reshape(tokens.shape[0], h, w, -1).float())
        return torch.cat(out)


@dataclass
class ColorizationFeatures:
    """Video-colorization pointer embeddings: ``__call__(uint8 [T, 3, H, W]) -> [T, h, w, E]``.

    ``model`` has ``embed_frames`` (``selfsup.methods.video_colorization``); frames are resized to
    ``input_size`` (height, width) first when given (e.g. the scale the model was trained at).
    """

    model: nn.Module
    input_size: tuple[int, int] | None = None

    @torch.no_grad()
    def __call__(self, frames: Tensor) -> Tensor:
        if self.input_size is not None and tuple(frames.shape[-2:]) != tuple(self.input_size):
            x = F.interpolate(frames.float(), size=self.input_size, mode="bilinear", antialias=True)
            frames = x.round().clamp(0, 255).to(torch.uint8)
        return self.model.embed_frames(frames)


def patch_labels(mask: np.ndarray | Tensor, num_objects: int, grid: tuple[int, int]) -> Tensor:
    """Area fraction of each class (0 = background, 1..K objects) per patch: float ``[K+1, h, w]``.

    Pixels are assigned to patches by area (adaptive average pooling); void pixels (255) are
    dropped and each patch's fractions renormalized over its non-void pixels (all-void patches are 0).
    """
    m = torch.as_tensor(np.asarray(mask)).long()
    if m.ndim != 2:
        raise ValueError(f"mask must be [H, W] ids, got shape {tuple(m.shape)}")
    valid = m != VOID
    bad = m[valid & (m > num_objects)]
    if bad.numel():
        raise ValueError(f"mask holds id {int(bad.max())} > num_objects={num_objects}")
    onehot = F.one_hot(m.where(valid, 0), num_objects + 1).permute(2, 0, 1).float() * valid
    pooled = F.adaptive_avg_pool2d(onehot[None], grid)[0]
    total = pooled.sum(0, keepdim=True)
    return torch.where(total > 0, pooled / total.clamp_min(1e-12), torch.zeros_like(pooled))


def nearest_labels(mask: np.ndarray | Tensor, num_objects: int, grid: tuple[int, int]) -> Tensor:
    """One-hot ``[K+1, h, w]`` of the mask resized to the patch grid with nearest neighbour (PIL, as
    DINO's ``read_seg``); void (255) becomes background."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be [H, W] ids, got shape {m.shape}")
    small = np.array(Image.fromarray(m.astype(np.uint8)).resize((grid[1], grid[0]), Image.NEAREST))
    small = torch.from_numpy(small).long()
    small = small.where(small != VOID, 0)
    if int(small.max()) > num_objects:
        raise ValueError(f"mask holds id {int(small.max())} > num_objects={num_objects}")
    return F.one_hot(small, num_objects + 1).permute(2, 0, 1).float()


@dataclass
class ClassifierConfig:
    """One-shot classifier: ``kind`` "mlp" (one hidden layer of ``hidden`` GELU units) or "linear"
    (multinomial logistic regression); full-batch Adam for ``steps`` at ``lr`` with ``weight_decay``;
    ``soft`` trains on the area fractions (soft cross-entropy) instead of the majority class.

    The default (mlp, hard labels) was chosen on the validation demo (``make_video_demo(split="val")``):
    mean J&F of three stamps DINO encoders 0.718 against 0.583 for the linear model (BENCHMARKS §19.5)."""

    kind: str = "mlp"
    hidden: int = 256
    steps: int = 200
    lr: float = 0.01
    weight_decay: float = 1e-4
    soft: bool = False
    seed: int = 0

    def validate(self) -> None:
        if self.kind not in ("linear", "mlp"):
            raise ValueError(f"classifier.kind must be 'linear' or 'mlp', got {self.kind!r}")
        if self.steps < 1 or self.lr <= 0 or self.hidden < 1 or self.weight_decay < 0:
            raise ValueError("classifier.steps, classifier.hidden must be >= 1, lr > 0, weight_decay >= 0")


def fit_patch_classifier(features: Tensor, labels: Tensor, config: ClassifierConfig) -> nn.Module:
    """Fit on frame-0 patches: features ``[N, D]`` (L2-normalized inside), soft labels ``[N, L]``."""
    config.validate()
    keep = labels.sum(1) > 0  # drop all-void patches
    x = F.normalize(features[keep].float(), dim=-1)
    y = labels[keep] if config.soft else F.one_hot(labels[keep].argmax(1), labels.shape[1]).float()
    torch.manual_seed(config.seed)
    d, n_cls = x.shape[1], labels.shape[1]
    if config.kind == "linear":
        model: nn.Module = nn.Linear(d, n_cls)
    else:
        model = nn.Sequential(nn.Linear(d, config.hidden), nn.GELU(), nn.Linear(config.hidden, n_cls))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # Cosine features are small in scale; a fixed logit scale of 10 lets the linear model separate
    # classes within a few hundred full-batch steps.
    for _ in range(config.steps):
        opt.zero_grad()
        loss = -(y * torch.log_softmax(model(x * 10.0), dim=1)).sum(1).mean()
        loss.backward()
        opt.step()
    model.eval()
    return _Scaled(model)


class _Scaled(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        """Class probabilities ``[N, L]`` of features ``[N, D]``."""
        return torch.softmax(self.model(F.normalize(x.float(), dim=-1) * 10.0), dim=-1)


def to_pixels(probs: Tensor, size: tuple[int, int]) -> Tensor:
    """Class probabilities ``[T, L, h, w]`` -> ids uint8 ``[T, H, W]`` (bilinear upsampling, argmax)."""
    up = F.interpolate(probs.float(), size=size, mode="bilinear", align_corners=False)
    return up.argmax(1).to(torch.uint8)


@torch.no_grad()
def _classifier_probs(features: Tensor, first: Tensor, config: ClassifierConfig) -> Tensor:
    t, h, w, d = features.shape
    with torch.enable_grad():
        model = fit_patch_classifier(features[0].reshape(-1, d), first.reshape(first.shape[0], -1).T, config)
    return model(features.reshape(-1, d)).reshape(t, h, w, -1).permute(0, 3, 1, 2)


def segment_frames(
    frames: Tensor,
    first_mask: np.ndarray,
    num_objects: int,
    method: str,
    features: FeatureFn | None = None,
    classifier: ClassifierConfig | None = None,
    temperature: float | None = None,
    topk: int | None = TOPK,
    radius: int | None = RADIUS,
    n_recent: int = N_RECENT,
    labels: str | None = None,
    output: str | None = None,
    patch_size: int | None = None,
) -> Tensor:
    """Segment uint8 ``[T, 3, H, W]`` frames given frame 0's ids ``[H, W]`` -> uint8 ``[T, H, W]``.

    ``temperature`` defaults to 0.1 (DINO) for "propagation" and 1 (Vondrick et al.) for
    "colorization". ``labels`` ("nearest" one-hot or "area" fractions, see ``nearest_labels`` /
    ``patch_labels``) and ``output`` ("dino": ``labels_to_ids`` with ``norm_mask``; "direct": bilinear
    straight to the frame size and arg-max, ``to_pixels``) default to "nearest" / "dino" for
    "propagation" (DINO's protocol) and "area" / "direct" otherwise. ``patch_size`` (default:
    ``features.patch_size`` when it has one) is the factor of DINO's bilinear upsampling.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    dino = method == "propagation"
    labels = labels or ("nearest" if dino else "area")
    output = output or ("dino" if dino else "direct")
    if labels not in LABELS or output not in OUTPUTS:
        raise ValueError(
            f"labels must be one of {LABELS} and output one of {OUTPUTS}, got {labels!r}, {output!r}"
        )
    t, _, height, width = frames.shape
    first = torch.as_tensor(np.asarray(first_mask)).to(torch.uint8)
    if tuple(first.shape) != (height, width):
        raise ValueError(f"first mask {tuple(first.shape)} must match the frames' size {(height, width)}")
    if method == "copy":
        return first.expand(t, height, width).clone()
    if features is None:
        raise ValueError(f"method {method!r} needs a feature extractor (an encoder or a colorization model)")
    feats = features(frames)
    grid = tuple(feats.shape[1:3])
    first_labels = (nearest_labels if labels == "nearest" else patch_labels)(first, num_objects, grid)
    if method == "classifier":
        probs = _classifier_probs(feats, first_labels, classifier or ClassifierConfig())
    else:
        colorization = method == "colorization"
        temp = temperature if temperature is not None else (1.0 if colorization else TEMPERATURE)
        probs = propagate_labels(
            feats, first_labels, temp, topk, radius, n_recent, normalize=not colorization
        )
    if output == "dino":
        patch = patch_size or getattr(features, "patch_size", None)
        ids = torch.stack([first, *(labels_to_ids(p, (height, width), patch) for p in probs[1:])])
    else:
        ids = to_pixels(probs, (height, width))
    ids[0] = first  # frame 0 is given (and is not scored)
    return ids


def segment_davis(
    davis_root: str | Path,
    out: str | Path,
    method: str,
    features: FeatureFn | None = None,
    split: str = "val",
    sequences: list[str] | None = None,
    progress: str | None = None,
    **kwargs: object,
) -> list[str]:
    """Segment every sequence of ``split`` and write ``out/<seq>/<frame>.png``; returns the names.

    ``progress``: a label for a progress bar over the sequences (on stderr); None draws none."""
    names = sequences if sequences is not None else sequence_names(davis_root, split)
    for name in tqdm(names, desc=progress, unit="sequence", disable=progress is None, file=sys.stderr):
        seq = load_sequence(davis_root, name)
        frames = torch.stack([torch.from_numpy(seq.read_frame(i)) for i in range(len(seq.frames))])
        first = seq.read_annotation(0)
        ids = segment_frames(frames.permute(0, 3, 1, 2), first, seq.num_objects, method, features, **kwargs)
        for frame, mask in zip(seq.frames, ids, strict=True):
            write_mask(Path(out) / name / f"{frame.stem}.png", mask.numpy())
    return names
