"""Reference points for frozen-feature evaluation: random-init encoders, raw pixels, one-call evaluation.

A self-supervised encoder is only interesting relative to what needs no training: the same
architecture with random weights (a surprisingly strong kNN / linear baseline, see e.g.
Caron et al. 2018, DeepCluster, Table 1) and the raw pixels themselves.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from selfsup.eval.features import ImageSize, extract_features, raw_pixel_features
from selfsup.eval.knn import knn_accuracy
from selfsup.eval.linear_probe import DEFAULT_WEIGHT_DECAYS, linear_probe

# ViT convention for tokens and position embeddings (Dosovitskiy et al. 2021; timm): N(0, 0.02) truncated.
_LOOSE_PARAM_STD = 0.02


def random_init_copy(encoder: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy of ``encoder`` with freshly initialized weights: same architecture, same output shape.

    Every submodule with a ``reset_parameters()`` method (Linear, Conv, norms, timm layers, ...)
    is reset, in ``modules()`` order, from a generator seeded with ``seed``, so the copy is
    deterministic for a seed. Parameters held directly by modules WITHOUT ``reset_parameters``
    (e.g. a ViT's ``pos_embed`` / ``cls_token``) would otherwise keep their trained values and leak
    them into the "random" baseline; they are redrawn from a truncated normal with std 0.02 (the
    ViT convention). Buffers are reset wherever ``reset_parameters`` resets them (BatchNorm running
    statistics). The original module and the global RNG state are left untouched.
    """
    if not isinstance(encoder, nn.Module):
        raise TypeError(f"encoder must be an nn.Module, got {type(encoder).__name__}")
    clone = copy.deepcopy(encoder)
    cuda_devices = sorted({p.device.index or 0 for p in clone.parameters() if p.device.type == "cuda"})
    reset: set[int] = set()
    with torch.random.fork_rng(devices=cuda_devices), torch.no_grad():
        torch.manual_seed(seed)
        for module in clone.modules():
            if callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
                reset.update(id(p) for p in module.parameters(recurse=False))
        for module in clone.modules():
            for param in module.parameters(recurse=False):
                if id(param) not in reset:
                    nn.init.trunc_normal_(
                        param, std=_LOOSE_PARAM_STD, a=-2 * _LOOSE_PARAM_STD, b=2 * _LOOSE_PARAM_STD
                    )
                    reset.add(id(param))
    return clone


def knn_val_and_test(
    train_feats: Tensor,
    train_labels: Tensor,
    test_feats: Tensor,
    test_labels: Tensor,
    validation: tuple[Tensor, Tensor] | None,
    k: int,
    temperature: float,
) -> tuple[float | None, float]:
    """(kNN on the validation split fit on the rest of train, or None; kNN on test fit on all of train)."""
    val = None
    if validation is not None:
        fit_idx, val_idx = validation
        val = knn_accuracy(
            train_feats[fit_idx],
            train_labels[fit_idx],
            train_feats[val_idx],
            train_labels[val_idx],
            k=k,
            temperature=temperature,
            num_classes=int(train_labels.max()) + 1,
        )
    test = knn_accuracy(train_feats, train_labels, test_feats, test_labels, k=k, temperature=temperature)
    return val, test


def raw_pixel_knn(
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    k: int = 20,
    temperature: float = 0.07,
    image_size: ImageSize | None = None,
) -> float:
    """kNN top-1 accuracy in [0, 1] on raw pixels: uint8 ``[N, C, H, W]`` / ``[M, C, H, W]`` images.

    Same weighted vote as ``knn_accuracy`` (Wu et al. 2018, k = 20, T = 0.07) on the flattened
    [0, 1] pixels (optionally resized to ``image_size``).
    """
    return knn_accuracy(
        raw_pixel_features(train_images, image_size),
        train_labels,
        raw_pixel_features(test_images, image_size),
        test_labels,
        k=k,
        temperature=temperature,
    )


def evaluate_encoder(
    encoder: nn.Module,
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    image_size: ImageSize | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    k: int = 20,
    temperature: float = 0.07,
    linear: bool = True,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    batch_size: int = 512,
    device: str | torch.device | None = None,
    autocast: bool = False,
    seed: int = 0,
    validation: tuple[Tensor, Tensor] | None = None,
) -> dict[str, float | int | None]:
    """Frozen-feature kNN and (optionally) linear-probe accuracy of ``encoder``.

    Images are uint8 ``[N, C, H, W]`` (train) and ``[M, C, H, W]`` (test) with int labels ``[N]`` / ``[M]``;
    preprocessing as in ``extract_features``. ``validation = (fit_idx, val_idx)``: indices into the
    train images of the protocol's validation split (``selfsup.data.splits``); the kNN is then also
    scored on it (fit on the rest) and the probe's weight decay is chosen on it. Returns
    ``{"knn", "linear": test top-1 in [0, 1] (linear None when linear=False), "knn_val", "linear_val":
    validation top-1 (None without a validation split), "feature_dim": D}``.
    """
    kwargs = dict(
        image_size=image_size, mean=mean, std=std, batch_size=batch_size, device=device, autocast=autocast
    )
    train_feats = extract_features(encoder, train_images, **kwargs)
    test_feats = extract_features(encoder, test_images, **kwargs)
    knn_val, knn = knn_val_and_test(
        train_feats, train_labels, test_feats, test_labels, validation, k, temperature
    )
    probe = probe_val = None
    if linear:
        result = linear_probe(
            train_feats,
            train_labels,
            test_feats,
            test_labels,
            weight_decays=weight_decays,
            seed=seed,
            split=validation,
        )
        probe, probe_val = result.test_accuracy, result.val_accuracy
    return {
        "knn": knn,
        "linear": probe,
        "knn_val": knn_val,
        "linear_val": probe_val,
        "feature_dim": int(train_feats.shape[1]),
    }
