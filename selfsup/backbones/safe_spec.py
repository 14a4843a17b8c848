"""Which backbone specs a file may ask for: the allowlist behind ``selfsup.load_encoder``.

An exported encoder's JSON names the architecture that ``create_backbone(name, **kwargs)`` rebuilds.
The JSON is data from wherever the file came from, so it may only choose *shapes*, never make selfsup
open or fetch something: timm's ``checkpoint_path``, ``pretrained``, ``pretrained_cfg`` (and its
``file``/``url``/``hf_hub_id`` entries), torchvision's ``weights``, our ``pretrained_path`` and every other
key not listed below are refused, and values must be numbers, booleans, short names or lists of them
(no paths, URLs or nested objects). The keys are those of selfsup's own families and the architecture
options of the timm / torchvision models we build (ViT, Swin, ConvNeXt, ResNet-like).
"""

from __future__ import annotations

import re
from typing import Any

SAFE_KWARGS = frozenset(
    {
        # every family
        "in_chans",
        "image_size",
        # resnet_small / resnet18_cifar
        "width",
        "depths",
        "zero_init_residual",
        # lab: and patchgrid:
        "groups",
        "patch_size",
        "patch_stride",
        # timm / torchvision architecture options
        "embed_dim",
        "embed_dims",
        "depth",
        "dims",
        "num_heads",
        "mlp_ratio",
        "qkv_bias",
        "qk_norm",
        "class_token",
        "global_pool",
        "reg_tokens",
        "no_embed_class",
        "pos_embed",
        "dynamic_img_size",
        "dynamic_img_pad",
        "drop_rate",
        "drop_path_rate",
        "attn_drop_rate",
        "proj_drop_rate",
        "pos_drop_rate",
        "patch_drop_rate",
        "init_values",
        "fc_norm",
        "pre_norm",
        "final_norm",
        "window_size",
        "output_stride",
        "stem_type",
        "stem_width",
        "width_per_group",
        "groups_per_block",
        "replace_stride_with_dilation",
        "width_mult",
        "channels",
    }
)
# A short name such as "token", "avg", "deep": no path separators, no URL scheme.
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{0,64}$")
_NAME_PART = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return bool(_NAME.match(value)) and ".." not in value
    if isinstance(value, list):
        return len(value) <= 64 and all(_plain(v) and not isinstance(v, list) for v in value)
    return False


def check_backbone_spec(spec: Any, source: str) -> tuple[str, dict[str, Any]]:
    """``(name, kwargs)`` of a backbone spec read from ``source``, or one ValueError naming the bad field."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError(
            f"{source}: 'backbone' must be an object with a string 'name'; it was not written by "
            "selfsup.export_encoder: re-export the encoder"
        )
    name = spec["name"]
    if not all(_NAME_PART.match(part) for part in name.split(":")):
        raise ValueError(f"{source}: backbone name {name!r} is not a backbone name; re-export the encoder")
    kwargs = spec.get("kwargs", {})
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise ValueError(
            f"{source}: backbone 'kwargs' must be an object, got {type(kwargs).__name__}; re-export the encoder"
        )
    for key, value in kwargs.items():
        if key not in SAFE_KWARGS:
            raise ValueError(
                f"{source}: backbone kwarg {key!r} is not allowed in an exported encoder (a file may choose "
                "the architecture, never make selfsup open, download or run anything); remove it or "
                f"re-export the encoder. Allowed: {', '.join(sorted(SAFE_KWARGS))}"
            )
        if not _plain(value):
            raise ValueError(
                f"{source}: backbone kwarg {key}={value!r} must be a number, true/false, a short name or "
                "a list of those (no paths, URLs or objects); re-export the encoder"
            )
    return name, dict(kwargs)
