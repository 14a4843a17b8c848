"""``create_backbone(name, ...)`` and ``list_backbones()``: one entry point for every backbone family.

Names:

- ``"resnet18_cifar"``, ``"resnet_small"``: our CIFAR-style ResNets (``small_resnet.py``), for CPUs;
  named backbones live in ``selfsup.registry.BACKBONES`` (``@BACKBONES.register(name)`` on a builder
  taking ``in_chans``, ``image_size`` and its own keyword options);
- ``"timm:<model_name>"``: any timm model, e.g. ``"timm:vit_small_patch16_224"`` (``timm_adapter.py``);
- ``"tv:<name>"``: torchvision CNNs, e.g. ``"tv:resnet18"`` (``torchvision_adapter.py``).

``create_backbone(b.spec["name"], **b.spec["kwargs"])`` rebuilds backbone ``b``'s architecture;
that is how an exported encoder is loaded back. timm and torchvision are imported on first use so
``import selfsup`` stays fast.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from pathlib import Path
from typing import Any

import selfsup.backbones.small_resnet  # noqa: F401  (registers resnet_small and resnet18_cifar)
from selfsup.backbones.base import Backbone
from selfsup.registry import BACKBONES

_SYNTAX = (
    "'resnet18_cifar', 'resnet_small' (CPU-sized CIFAR ResNets), "
    "'timm:<model_name>' (any timm model, e.g. 'timm:vit_small_patch16_224'; see timm.list_models()), "
    "'tv:<name>' (torchvision CNNs, e.g. 'tv:resnet18', 'tv:resnet50')"
)


def create_backbone(name: str, in_chans: int = 3, image_size: int | None = None, **kwargs: Any) -> Backbone:
    """Build backbone ``name`` with random init (nothing is ever downloaded).

    Args:
        name: ``"resnet18_cifar"``, ``"resnet_small"``, ``"timm:<model>"`` or ``"tv:<model>"``.
        in_chans: image channels (3 RGB, 1 grayscale such as Fashion-MNIST).
        image_size: training image side; sizes a ViT's position embeddings, recorded for CNNs.
        **kwargs: family-specific options (``resnet_small``: ``width``, ``depths``,
            ``zero_init_residual``; ``timm:``/``tv:``: forwarded to the library's constructor), plus
            ``pretrained_path``: a local ``.safetensors`` / ``torch.save`` state_dict loaded safely
            (not recorded in ``spec``: an exported encoder carries its own weights).

    Returns:
        A ``Backbone``: ``forward(x) -> [B, num_features]``, ``forward_tokens(x) -> [B, N, token_dim]``.
    """
    if not isinstance(name, str):
        raise ValueError(f"backbone name must be a string, got {name!r}; use one of {_SYNTAX}")
    if image_size is not None and (
        not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8
    ):
        raise ValueError(f"image_size must be an int >= 8 or None, got {image_size!r}")
    pretrained_path: str | Path | None = kwargs.pop("pretrained_path", None)

    backbone: Backbone
    if name.startswith("timm:"):
        from selfsup.backbones.timm_adapter import TimmBackbone

        backbone = TimmBackbone(name[len("timm:") :], in_chans=in_chans, image_size=image_size, **kwargs)
    elif name.startswith("lab:"):  # RGB in, Lab inside: colorization / split-brain encoders
        from selfsup.backbones.lab_input import LabInputBackbone, branch_channels

        groups = kwargs.pop("groups", ("l",))
        branches = [
            create_backbone(name[len("lab:") :], in_chans=c, image_size=image_size, **kwargs)
            for c in branch_channels(groups, in_chans)
        ]
        backbone = LabInputBackbone(branches, groups)
    elif name.startswith("patchgrid:"):  # CPC: a patch encoder over an overlapping grid, latents averaged
        from selfsup.backbones.patch_grid import PatchGridBackbone

        grid = {k: kwargs.pop(k) for k in ("patch_size", "patch_stride") if k in kwargs}
        inner = create_backbone(name[len("patchgrid:") :], in_chans=in_chans, image_size=image_size, **kwargs)
        backbone = PatchGridBackbone(inner, **grid)
    elif name.startswith("tv:"):
        from selfsup.backbones.torchvision_adapter import TorchvisionBackbone

        backbone = TorchvisionBackbone(name[len("tv:") :], in_chans=in_chans, image_size=image_size, **kwargs)
    elif name in BACKBONES:
        build = BACKBONES[name]
        own = [k for k in inspect.signature(build).parameters if k not in ("in_chans", "image_size")]
        unknown = sorted(set(kwargs) - set(own))
        if unknown:
            raise ValueError(
                f"backbone {name!r} got unknown kwargs {unknown}; valid: in_chans, image_size, "
                f"pretrained_path, {', '.join(own)}"
            )
        backbone = build(in_chans=in_chans, image_size=image_size, **kwargs)
    else:
        raise ValueError(_unknown_message(name))

    if pretrained_path is not None:
        backbone.load_pretrained(pretrained_path)
    return backbone


def _unknown_message(name: str) -> str:
    msg = f"unknown backbone {name!r}; available: {_SYNTAX}"
    try:
        candidates = list_backbones()
    except ImportError:  # suggestions are a courtesy; never mask the real error
        candidates = BACKBONES.names()
    # A bare library name ("resnet18", "vit_tiny") is most likely meant with a prefix: match without it.
    bare: dict[str, list[str]] = {}
    for c in candidates:
        bare.setdefault(c.split(":", 1)[-1], []).append(c)
    exact = bare.get(name, [])
    starts = [c for b, cs in bare.items() if b.startswith(name) and b != name for c in cs][:3]
    close = [c for b in difflib.get_close_matches(name, list(bare), n=3, cutoff=0.6) for c in bare[b]]
    suggestions = list(dict.fromkeys(exact + starts + close))[:6]
    return msg + (f". Did you mean: {', '.join(suggestions)}?" if suggestions else "")


def list_backbones(pattern: str = "*") -> list[str]:
    """Sorted backbone names matching the shell-style ``pattern``.

    The small nets, every supported ``tv:`` model and every ``timm:`` model
    (``list_backbones("timm:vit_*")`` narrows to timm ViTs).
    """
    import timm

    from selfsup.backbones.torchvision_adapter import supported_torchvision_models

    names = BACKBONES.names()
    names += ["tv:" + n for n in supported_torchvision_models()]
    names += ["timm:" + n for n in timm.list_models()]
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
