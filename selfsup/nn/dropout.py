"""Turn off every stochastic layer of a network — dropout, drop path, drop block, patch dropout — for good;
read the stochastic-depth rate a network has.

An EMA teacher or momentum key encoder is a *target*: DINO's reference builds its teacher without
``drop_path_rate`` while the student gets 0.1 (official ``main_dino.py``, ``--drop_path_rate`` and the
teacher's ``vits.__dict__[args.arch](patch_size=...)``), and MoCo's key encoders have no dropout. A copy
of a student built with stochastic depth must therefore lose it, without leaving train mode: batch norm
in the teacher keeps using batch statistics, as in the references (DINO, MoCo v1-v3 run the momentum
network in train mode).

Setting the probabilities to 0 (rather than swapping the layers for ``Identity``) keeps the module tree,
the state dict and code that reads the probability (timm's fused attention passes ``attn_drop.p`` to
``scaled_dot_product_attention``) intact; ``.train()`` cannot turn them back on.
"""

from __future__ import annotations

from timm.layers import DropBlock2d, DropPath, PatchDropout
from torch import nn
from torchvision.ops import StochasticDepth

__all__ = ["disable_dropout_", "max_drop_path"]

# (layer type, the attribute holding its drop probability)
_STOCHASTIC: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.modules.dropout._DropoutNd, "p"),  # Dropout, Dropout1d/2d/3d, AlphaDropout, FeatureAlphaDropout
    (DropPath, "drop_prob"),  # timm stochastic depth (ViT, ConvNeXt, timm ResNet blocks)
    (DropBlock2d, "drop_prob"),
    (PatchDropout, "prob"),  # timm's token dropping (``patch_drop_rate``)
    (StochasticDepth, "p"),  # torchvision stochastic depth (EfficientNet, ConvNeXt, Swin)
)


def disable_dropout_(module: nn.Module) -> list[str]:
    """In place: every dropout-like layer of ``module`` gets drop probability 0; returns their names.

    Only the probabilities change: parameters, buffers and train/eval mode are untouched, so EMA updates
    (which pair parameters by order) and batch-norm behaviour are as before.
    """
    changed = []
    for name, layer in module.named_modules():
        for kind, attr in _STOCHASTIC:
            if isinstance(layer, kind):
                if getattr(layer, attr) != 0:
                    changed.append(name)
                setattr(layer, attr, 0.0)
                break
    return changed


def max_drop_path(module: nn.Module) -> float:
    """The largest stochastic-depth probability in ``module`` (timm ``DropPath``, torchvision
    ``StochasticDepth``); 0 when it has none. timm raises the rate linearly with depth, so for a model
    built with ``drop_path_rate=r`` this is ``r``."""
    rates = [float(m.drop_prob) for m in module.modules() if isinstance(m, DropPath)]
    rates += [float(m.p) for m in module.modules() if isinstance(m, StochasticDepth)]
    return max(rates, default=0.0)
