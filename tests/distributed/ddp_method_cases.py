"""One tiny, deterministic configuration per registered method, for the 2-process DDP equivalence test.

Each :class:`Case` builds its method (``torch.manual_seed(0)`` first), a global batch of ``2B`` uint8 images
(real sklearn digits, tinted for RGB methods; reference + shifted target frames for video colorization)
and says how the batch splits across ranks and which equality the method's math promises:

- ``"global"``: 2 ranks with ``B`` each == 1 process with the concatenated ``2B`` (losses are per-sample
  means or gather their negatives / keys / centers / priors across ranks);
- ``"per_rank"``: 2 ranks == the mean of two 1-process steps on the halves (each rank's loss only sees its
  own batch, e.g. CPC's candidate set), and *not* the ``2B`` run.

``bn_ghost``: with batch norm in training mode (per-rank statistics) the 2-rank step equals the mean of the
halves' 1-process steps (a "ghost batch"); true for methods whose loss couples no samples across ranks.
Methods that gather across ranks (SimCLR, MoCo, MoCo v3, CLIP, DINO) mix per-rank BN with global
negatives, which no single-process run reproduces: only finiteness and rank sync are checked there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from sklearn.datasets import load_digits
from torch import Tensor

from selfsup.backbones import create_backbone
from selfsup.methods.base import Method
from selfsup.registry import create_method
from selfsup.train.step import attach_inputs
from selfsup.types import Batch
from selfsup.views import ViewRecipe

B = 4  # per-rank batch
W = 2  # ranks
_VIT = {"patch_size": 4, "embed_dim": 16, "depth": 1, "num_heads": 2, "dynamic_img_size": True}


def digits(n: int, size: int) -> tuple[Tensor, Tensor]:
    """``n`` real 8x8 digits as uint8 ``[n, 1, size, size]`` (nearest upsampling) and their labels."""
    d = load_digits()
    x = torch.from_numpy(d.images[:n]).float().mul(255 / 16).round().to(torch.uint8)[:, None]
    x = torch.nn.functional.interpolate(x.float(), size=(size, size), mode="nearest").to(torch.uint8)
    return x, torch.from_numpy(d.target[:n]).long()


def tinted(n: int, size: int) -> Tensor:
    """RGB uint8 ``[n, 3, size, size]``: each digit strokes in its own random colour on a coloured ground."""
    x, _ = digits(n, size)
    g = torch.Generator().manual_seed(1)
    fg, bg = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    a = x.float() / 255
    return ((a * fg + (1 - a) * bg) * 255).round().to(torch.uint8)


def frame_pairs(n: int, size: int) -> Tensor:
    """uint8 ``[n, 6, size, size]``: a tinted digit (reference) and the same frame shifted by 1 px (target)."""
    ref = tinted(n, size)
    return torch.cat([ref, ref.roll(shifts=(1, 1), dims=(2, 3))], dim=1)


@dataclass
class Case:
    name: str
    build: Callable[[], Method]
    images: Callable[[int], Tensor]  # n -> uint8 images
    expect: str = "global"  # global | per_rank (see the module docstring)
    why: str = ""
    bn_ghost: bool = False  # train-mode (per-rank) BN == ghost-batch reference
    blocks: dict[str, int] = field(default_factory=dict)  # batch entries stacked as k blocks of B rows
    whole: tuple[str, ...] = ()  # batch entries every rank receives unsplit
    labels: bool = False  # pass digit labels
    tokens: bool = False  # pass caption token ids as labels (CLIP)


def _resnet(chans: int, size: int | None = 16, width: int = 4, depths=(1, 1)) -> torch.nn.Module:
    return create_backbone("resnet_small", in_chans=chans, image_size=size, width=width, depths=list(depths))


def _vit(chans: int = 1) -> torch.nn.Module:
    return create_backbone("timm:vit_tiny_patch16_224", in_chans=chans, image_size=16, **_VIT)


def _make(name: str, backbone: Callable[[], torch.nn.Module], **cfg) -> Callable[[], Method]:
    def build() -> Method:
        torch.manual_seed(0)
        from selfsup.registry import method_class

        return create_method(name, backbone(), method_class(name).Config(**cfg))

    return build


def _gray(n: int) -> Tensor:
    return digits(n, 16)[0]


CASES: list[Case] = [
    Case(
        "simclr",
        _make("simclr", lambda: _resnet(1), proj_out_dim=8, views=ViewRecipe(blur_p=0.0)),
        _gray,
        why="InfoNCE gathers embeddings with gradient: every rank scores its anchors against all 2B",
    ),
    Case(
        "moco",
        _make("moco", lambda: _resnet(1), queue_size=16, proj_out_dim=8, shuffle_bn_groups=2),
        _gray,
        why="per-query CE mean; keys gathered into one queue; the key permutation covers the global batch",
        whole=("key_perm",),
    ),
    Case(
        "mocov3",
        _make("mocov3", _vit, proj_hidden_dim=16, pred_hidden_dim=16, out_dim=8),
        _gray,
        why="keys gathered (no grad), positives at rank*B+i, per-query CE mean",
    ),
    Case(
        "cpc",
        _make("cpc", lambda: _resnet(1), patch_size=8, context_layers=2, pred_steps=2),
        _gray,
        why="candidate patch latents gathered from every rank with gradient: the 2B run's negatives",
    ),
    Case(
        "mae",
        _make("mae", _vit, decoder_dim=16, decoder_depth=1, decoder_heads=2),
        _gray,
        why="masked MSE with the same number of masked patches per image: the global mean is the rank mean",
    ),
    Case(
        "dino",
        _make(
            "dino",
            _vit,
            out_dim=32,
            hidden_dim=16,
            bottleneck_dim=8,
            n_local_crops=2,
            local_size=8,
            freeze_last_layer_epochs=0.0,
        ),
        _gray,
        why="per-sample cross-entropy mean; the teacher center is all-reduced over ranks",
    ),
    Case(
        "clip",
        _make(
            "clip",
            lambda: _resnet(3, None),
            embed_dim=16,
            text_width=16,
            text_layers=1,
            text_heads=2,
            context_length=12,
        ),
        lambda n: tinted(n, 16),
        why="image and text features gathered with gradient: the global batch gives the negatives",
        tokens=True,
    ),
    Case(
        "rotation",
        _make("rotation", lambda: _resnet(1)),
        _gray,
        why="per-image 4-way CE mean",
        bn_ghost=True,
        blocks={"view0": 4, "rotation": 4},
    ),
    Case(
        "relative_patch",
        _make(
            "relative_patch",
            lambda: _resnet(1, None),
            tile=5,
            gap=4,
            jitter=2,
            color="none",
            fc6_dim=8,
            fc7_dim=16,
        ),
        lambda n: digits(n, 32)[0],
        why="per-pair 8-way CE mean",
        bn_ghost=True,
    ),
    Case(
        "jigsaw",
        _make(
            "jigsaw",
            lambda: _resnet(1, None),
            num_permutations=12,
            tile=5,
            gap=2,
            jitter=1,
            fc6_dim=8,
            fc7_dim=16,
        ),
        lambda n: digits(n, 32)[0],
        why="per-puzzle N-way CE mean",
        bn_ghost=True,
    ),
    Case(
        "inpainting",
        _make(
            "inpainting",
            lambda: _resnet(1, 16, depths=(1, 1, 1)),
            decoder_width=8,
            disc_width=4,
            adversarial=True,
        ),
        _gray,
        why="per-image weighted masked L2 (random regions of equal area), per-image discriminator BCE means",
        bn_ghost=True,
    ),
    Case(
        "colorization",
        _make("colorization", lambda: _resnet(3, 16, depths=(1, 1, 1)), decoder_width=8),
        lambda n: tinted(n, 16),
        why="per-pixel CE mean; the class-rebalancing prior sums the ab histograms of all ranks",
    ),
    Case(
        "split_brain",
        _make("split_brain", lambda: _resnet(3, 16, depths=(1, 1, 1)), decoder_width=8, rebalance=True),
        lambda n: tinted(n, 16),
        why="per-pixel CE means; the (optional) rebalancing prior sums the histograms of all ranks",
    ),
    Case(
        "supervised",
        _make("supervised", lambda: _resnet(1), num_classes=10),
        _gray,
        why="per-image CE mean",
        bn_ghost=True,
        labels=True,
    ),
    Case(
        "video_colorization",
        _make(
            "video_colorization",
            lambda: _resnet(1, None, width=8, depths=(1, 1, 1)),
            num_colors=4,
            embed_dim=8,
        ),
        lambda n: frame_pairs(n, 16),
        why="per-location NLL mean with one shared colour codebook, fitted by k-means with a fixed seed on "
        "the first batch of all ranks (gathered), so every rank fits the one the 2B run uses",
    ),
]


def case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


# -- splitting the global batch ------------------------------------------------------------------------


def split_batch(batch: Batch, name: str) -> list[Batch]:
    """Rank r's part of a global batch (``Case.blocks`` / ``Case.whole`` say how entries split)."""
    c = case(name)

    def cut(key: str, t: Tensor | None, r: int) -> Tensor | None:
        if t is None or key in c.whole:
            return t
        k = c.blocks.get(key, 1)  # k blocks of 2B rows (e.g. the 4 rotations), each cut per rank
        assert t.shape[0] % (k * W) == 0, f"{name}: cannot split {key} {tuple(t.shape)}"
        return t.unflatten(0, (k, -1)).chunk(W, dim=1)[r].flatten(0, 1)

    return [
        Batch(
            views=[cut(f"view{i}", v, r) for i, v in enumerate(batch.views)],
            targets={k: cut(k, t, r) for k, t in batch.targets.items()},
            labels=cut("labels", batch.labels, r),
            indices=cut("indices", batch.indices, r),
            images=cut("images", batch.images, r),
        )
        for r in range(W)
    ]


def global_batch(name: str, method: Method) -> Batch:
    """The 2B-image batch of case ``name``, views drawn once with a fixed generator."""
    c = case(name)
    images = c.images(W * B)
    labels = None
    if c.labels:
        labels = digits(W * B, 8)[1]
    if c.tokens:
        labels = method.tokenizer([f"a photo of the digit {i % 10}." for i in range(W * B)])
    with torch.no_grad():
        batch = method.make_batch(images, labels, generator=torch.Generator().manual_seed(0))
    return attach_inputs(batch, images, labels, torch.arange(W * B))  # as the trainer does
