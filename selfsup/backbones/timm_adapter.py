"""``timm:<model_name>``: any timm model behind the ``Backbone`` interface.

The model is built with ``timm.create_model(name, pretrained=False, num_classes=0, in_chans=...,
img_size=image_size, **kwargs)``; ``img_size`` is only passed when ``image_size`` is given and the
architecture accepts it (ViT-like models; a ViT's position embeddings are sized for it). Nothing is
ever downloaded: ``pretrained=True`` is refused, local weights come through ``pretrained_path``.

The timm model is kept as ``self.model`` so weight names stay timm's: the adapter's state_dict keys
are ``"model." + <timm key>``, and ``timm_state_dict()`` returns the plain timm keys, which load with
``strict=True`` into ``timm.create_model(name, num_classes=0, **backbone.timm_kwargs)``.

- ``forward``: timm's pooled pre-logits features (``model(x)`` with the head removed), e.g. the
  class token for ``vit_*`` (global_pool="token"), the average-pooled map for CNNs.
- ``forward_tokens``: ``model.forward_features(x)`` with the ``num_prefix_tokens`` class/register
  tokens stripped (ViTs), or the final feature map flattened to ``[B, h*w, C]`` (CNNs, NCHW or NHWC).
"""

from __future__ import annotations

import difflib
from typing import Any

import timm
from torch import Tensor, nn

from selfsup.backbones.base import Backbone


def _as_int(size: Any) -> int:
    """timm stores sizes as ints or (h, w) tuples; square is what this library builds."""
    if isinstance(size, (tuple, list)):
        return int(max(size))
    return int(size)


def _require_whole_patches(model: nn.Module, model_name: str, image_size: int | None) -> None:
    """A ViT cuts the image into patch_size squares; a border that is not a whole patch would be silently
    dropped (or padded only where ``dynamic_img_pad``), so refuse such sizes and name the nearest good ones."""
    pe = getattr(model, "patch_embed", None)
    if image_size is None or pe is None or getattr(pe, "patch_size", None) is None:
        return
    if getattr(pe, "dynamic_img_pad", False):
        return
    patch = _as_int(pe.patch_size)
    if image_size % patch:
        lower, upper = image_size - image_size % patch, image_size - image_size % patch + patch
        raise ValueError(
            f"image size {image_size} is not a multiple of timm:{model_name}'s patch size {patch}, so its "
            f"border would be ignored; use data.image_size={lower or upper} or {upper} (or pass "
            "dynamic_img_pad=True in backbone_kwargs to pad)"
        )


class TimmBackbone(Backbone):
    """Adapter around ``timm.create_model(model_name, ...)``; see the module docstring.

    Args:
        model_name: a name from ``timm.list_models()`` (without the ``timm:`` prefix).
        in_chans: input channels passed to timm (1 for grayscale).
        image_size: input size for ViT-like models (``img_size``); ignored by CNNs.
        **kwargs: forwarded to ``timm.create_model`` (e.g. ``patch_size=4``, ``drop_path_rate=0.1``,
            ``dynamic_img_size=True``); must be JSON-serializable to export the encoder.

    Attributes: ``model`` (the timm module), ``timm_kwargs`` (exact extra kwargs given to
    ``timm.create_model`` besides ``pretrained=False, num_classes=0``), ``num_prefix_tokens``.
    """

    def __init__(
        self, model_name: str, in_chans: int = 3, image_size: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(in_chans)
        if not timm.is_model(model_name):
            close = difflib.get_close_matches(model_name, timm.list_models(), n=5)
            raise ValueError(
                f"timm has no model {model_name!r}"
                + (f"; did you mean {', '.join('timm:' + c for c in close)}?" if close else "")
                + " List names with timm.list_models('*pattern*')."
            )
        for banned in ("pretrained", "num_classes"):
            if banned in kwargs:
                fix = "pass pretrained_path=<local file>" if banned == "pretrained" else "add a head on top"
                raise ValueError(
                    f"{banned}= is fixed by the backbone adapter (pretrained=False, num_classes=0); {fix}"
                )
        timm_kwargs: dict[str, Any] = {"in_chans": in_chans, **kwargs}
        if image_size is not None:
            timm_kwargs["img_size"] = image_size
        try:
            model = timm.create_model(model_name, pretrained=False, num_classes=0, **timm_kwargs)
        except TypeError as err:
            if image_size is not None and "img_size" in str(err) and "img_size" not in kwargs:
                # CNNs have no img_size argument: they are fully convolutional, so drop it.
                del timm_kwargs["img_size"]
                try:
                    model = timm.create_model(model_name, pretrained=False, num_classes=0, **timm_kwargs)
                except TypeError as err2:
                    raise _bad_kwargs(model_name, timm_kwargs, err2) from None
            else:
                raise _bad_kwargs(model_name, timm_kwargs, err) from None
        _require_whole_patches(model, model_name, image_size)
        self.model = model
        self.timm_kwargs = timm_kwargs
        self.model_name = model_name
        self.num_prefix_tokens = int(getattr(model, "num_prefix_tokens", 0) or 0)
        self.token_dim = int(model.num_features)
        # Some CNN heads widen the pooled features (MobileNetV3's conv_head): timm calls it head_hidden_size.
        self.num_features = int(getattr(model, "head_hidden_size", None) or model.num_features)
        self.patch_size = self._find_patch_size()
        fmt = getattr(model, "output_fmt", "NCHW")
        self._output_fmt = str(getattr(fmt, "value", fmt))  # a str or timm's Format enum
        self._set_spec("timm:" + model_name, {"in_chans": in_chans, "image_size": image_size, **kwargs})

    def _find_patch_size(self) -> int | None:
        # feature_info's last reduction is the total stride of the token grid: the patch size for a
        # plain ViT, 32 for hierarchical models (Swin, CNNs) whose patch_embed stride is only the first.
        feature_info = getattr(self.model, "feature_info", None)
        if isinstance(feature_info, list) and feature_info and "reduction" in feature_info[-1]:
            return _as_int(feature_info[-1]["reduction"])
        patch_embed = getattr(self.model, "patch_embed", None)
        if patch_embed is not None and getattr(patch_embed, "patch_size", None) is not None:
            return _as_int(patch_embed.patch_size)
        return None

    def _check_input(self, x: Tensor) -> None:
        super()._check_input(x)
        # ViTs with a fixed grid assert deep inside patch_embed; name the fix here instead.
        pe = getattr(self.model, "patch_embed", None)
        img_size = getattr(pe, "img_size", None)
        dynamic = getattr(self.model, "dynamic_img_size", False) or not getattr(pe, "strict_img_size", False)
        if img_size is not None and not dynamic:
            h, w = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
            if (x.shape[2], x.shape[3]) != (h, w):
                raise ValueError(
                    f"backbone 'timm:{self.model_name}' was built for {h}x{w} images, got "
                    f"{x.shape[2]}x{x.shape[3]}; build it with image_size={x.shape[2]} or pass "
                    "dynamic_img_size=True to create_backbone"
                )

    def _forward_pooled(self, x: Tensor) -> Tensor:
        return self.model(x)

    def _forward_tokens(self, x: Tensor) -> Tensor:
        feats = self.model.forward_features(x)
        if feats.ndim == 3:  # [B, prefix + N, D]
            return feats[:, self.num_prefix_tokens :]
        if feats.ndim == 4:
            if self._output_fmt == "NHWC":  # Swin, MambaOut, ...
                return feats.flatten(1, 2)
            return feats.flatten(2).transpose(1, 2)
        raise ValueError(
            f"timm:{self.model_name}.forward_features returned shape {tuple(feats.shape)}; expected "
            "[B, N, D] tokens or a [B, C, h, w] map, so this model has no patch tokens"
        )

    def _weights_target(self) -> tuple[nn.Module, tuple[str, ...]]:
        classifier = self.model.pretrained_cfg.get("classifier") if self.model.pretrained_cfg else None
        heads = (classifier,) if isinstance(classifier, str) else tuple(classifier or ())
        return self.model, heads

    def timm_state_dict(self) -> dict[str, Tensor]:
        """State dict with plain timm keys (no ``model.`` prefix), loadable into a plain timm model:

        ``timm.create_model(name, pretrained=False, num_classes=0, **backbone.timm_kwargs)
        .load_state_dict(backbone.timm_state_dict(), strict=True)``.
        """
        return self.model.state_dict()


def _bad_kwargs(model_name: str, timm_kwargs: dict[str, Any], err: Exception) -> ValueError:
    return ValueError(
        f"timm.create_model({model_name!r}) rejected the arguments {timm_kwargs}: {err}; "
        "check the kwargs against the model's constructor in timm"
    )
