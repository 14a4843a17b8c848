"""GPU-path options applied to a built ``Method`` before training: memory format and ``torch.compile``.

``train.channels_last`` (``auto`` | ``true`` | ``false``): store 4-D conv weights and activations as
NHWC. cuDNN's tensor-core convolutions run natively in NHWC, so CNNs skip the layout transposes
around every convolution under bf16/fp16 (NVIDIA's "Tensor Core performance guide"; torch's
channels_last tutorial reports 8-35 % faster ResNets). ``auto`` turns it on for CUDA runs of a model
that has convolutions with more than one layer (a ViT's single patch-embedding conv gains nothing),
and off on CPU, where oneDNN picks its own layouts (``true`` is ignored there, with a warning).

``train.compile`` (``false`` | ``true``): ``torch.compile`` with the default inductor backend. A model
with transformer blocks is compiled *regionally*: each block is compiled in place and all blocks
share one compiled graph, so compile time is that of one block rather than of the whole network
(the torch.compile "regional compilation" recipe); any other backbone is compiled as one module.
``nn.Module.compile`` works in place, so parameter names, checkpoints and exports stay unchanged.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from selfsup.train.fsdp import transformer_blocks

CHANNELS_LAST_CHOICES = ("auto", "true", "false")


def conv_layers(module: nn.Module) -> int:
    """Number of 2-D convolutions in ``module``."""
    return sum(isinstance(m, nn.Conv2d) for m in module.modules())


def use_channels_last(choice: str | bool, module: nn.Module, device_type: str) -> bool:
    """Resolve ``train.channels_last`` for ``module`` trained on ``device_type`` ('cuda' | 'cpu')."""
    choice = str(choice).lower()
    if choice not in CHANNELS_LAST_CHOICES:
        raise ValueError(f"train.channels_last must be one of auto, true, false; got {choice!r}")
    if choice == "false":
        return False
    if device_type != "cuda":
        if choice == "true":
            warnings.warn(
                "train.channels_last=true is a CUDA option and is ignored on the CPU (oneDNN chooses its own "
                "layouts; an NHWC weight gradient of a strided 1x1 convolution was seen to corrupt the heap "
                "in torch 2.14.1 on CPU); use train.channels_last=auto",
                stacklevel=2,
            )
        return False
    # Count the encoder's convolutions: a method may hold several copies (DINO's teacher).
    return choice == "true" or conv_layers(getattr(module, "encoder", module)) > 1


def compile_regions(module: nn.Module) -> list[nn.Module]:
    """What ``train.compile`` compiles: every transformer block, else the encoder (or the module)."""
    blocks = transformer_blocks(module)
    if blocks:
        return blocks
    return [getattr(module, "encoder", module)]


def apply_memory_format(method: nn.Module, channels_last: str | bool, device_type: str) -> bool:
    """Apply ``train.channels_last`` to ``method`` in place (before the optimizer is built)."""
    use = use_channels_last(channels_last, method, device_type)
    if use:
        method.to(memory_format=torch.channels_last)
    return use


def compile_method(method: nn.Module) -> int:
    """``torch.compile`` the regions of ``method`` in place; returns how many modules were compiled."""
    regions = compile_regions(method)
    for region in regions:
        region.compile()
    return len(regions)
