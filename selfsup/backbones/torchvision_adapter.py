"""``tv:<name>``: torchvision classification CNNs behind the ``Backbone`` interface.

Built with ``torchvision.models.get_model(name, weights=None, **kwargs)`` (never downloads), the
classifier (``fc`` / ``classifier``) replaced by ``nn.Identity`` so ``model(x)`` is the pooled
feature vector, and, when ``in_chans != 3``, the first conv rebuilt for ``in_chans`` inputs
(Kaiming fan-out init, as torchvision's ResNets). ``forward_tokens`` is the last feature map before
pooling, flattened to ``[B, h*w, C]``; all supported families have total stride 32.

The torchvision model is kept as ``self.model``, so state_dict keys are ``"model." + <tv key>``.
Supported families: ResNet / ResNeXt / Wide ResNet, RegNet, MobileNetV2/V3, EfficientNet (V1/V2),
MNASNet, DenseNet, ShuffleNetV2. Others (ViT, Swin, ConvNeXt, VGG, ...) are reachable via ``timm:``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from selfsup.backbones.base import Backbone


def _resnet_trunk(m: nn.Module, x: Tensor) -> Tensor:
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    return m.layer4(m.layer3(m.layer2(m.layer1(x))))


def _regnet_trunk(m: nn.Module, x: Tensor) -> Tensor:
    return m.trunk_output(m.stem(x))


def _features_trunk(m: nn.Module, x: Tensor) -> Tensor:
    return m.features(x)


def _mnasnet_trunk(m: nn.Module, x: Tensor) -> Tensor:
    return m.layers(x)


def _densenet_trunk(m: nn.Module, x: Tensor) -> Tensor:
    # DenseNet applies its final ReLU in forward(), outside `features`.
    return F.relu(m.features(x))


def _shufflenet_trunk(m: nn.Module, x: Tensor) -> Tensor:
    x = m.maxpool(m.conv1(x))
    return m.conv5(m.stage4(m.stage3(m.stage2(x))))


# name prefix -> (trunk function giving the last feature map, attribute holding the classifier)
_FAMILIES: dict[str, tuple[Callable[[nn.Module, Tensor], Tensor], str]] = {
    "resnet": (_resnet_trunk, "fc"),
    "resnext": (_resnet_trunk, "fc"),
    "wide_resnet": (_resnet_trunk, "fc"),
    "regnet": (_regnet_trunk, "fc"),
    "mobilenet_v2": (_features_trunk, "classifier"),
    "mobilenet_v3": (_features_trunk, "classifier"),
    "efficientnet": (_features_trunk, "classifier"),
    "mnasnet": (_mnasnet_trunk, "classifier"),
    "densenet": (_densenet_trunk, "classifier"),
    "shufflenet_v2": (_shufflenet_trunk, "fc"),
}


def _family(name: str) -> str | None:
    return next((f for f in _FAMILIES if name.startswith(f)), None)


def supported_torchvision_models() -> list[str]:
    """torchvision classification model names this adapter supports."""
    return [n for n in torchvision.models.list_models(module=torchvision.models) if _family(n)]


def _replace_first_conv(model: nn.Module, in_chans: int) -> None:
    """Swap the first 3-channel ``Conv2d`` for one taking ``in_chans`` channels, same geometry."""
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.in_channels == 3:
                new = nn.Conv2d(
                    in_chans,
                    child.out_channels,
                    child.kernel_size,
                    stride=child.stride,
                    padding=child.padding,
                    dilation=child.dilation,
                    groups=child.groups,
                    bias=child.bias is not None,
                )
                nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
                if new.bias is not None:
                    nn.init.zeros_(new.bias)
                setattr(parent, child_name, new)
                return
    raise ValueError(
        f"found no 3-channel first conv to adapt to in_chans={in_chans} in {type(model).__name__}"
    )


class TorchvisionBackbone(Backbone):
    """Adapter around ``torchvision.models.get_model(name, weights=None)``; see the module docstring.

    Args:
        model_name: torchvision name without the ``tv:`` prefix (``supported_torchvision_models()``).
        in_chans: input channels (1 for grayscale rebuilds the first conv).
        image_size: recorded in ``spec`` only; these CNNs are fully convolutional.
        **kwargs: forwarded to ``get_model`` (e.g. ``zero_init_residual=True`` for ResNets).

    Shapes: ``forward``: ``[B, in_chans, H, W] -> [B, num_features]`` (512 for resnet18/34, 2048 for
    resnet50); ``forward_tokens``: ``-> [B, ceil(H/32) * ceil(W/32), num_features]``.
    """

    def __init__(
        self, model_name: str, in_chans: int = 3, image_size: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(in_chans)
        known = torchvision.models.list_models(module=torchvision.models)
        family = _family(model_name) if model_name in known else None
        if family is None:
            hint = "is not supported" if model_name in known else "is not a torchvision classification model"
            close = difflib.get_close_matches(model_name, supported_torchvision_models(), n=3)
            raise ValueError(
                f"'tv:{model_name}' {hint}"
                + (f" (did you mean {', '.join('tv:' + c for c in close)}?)" if close else "")
                + f"; supported: {', '.join('tv:' + n for n in supported_torchvision_models())}. "
                "Other architectures (ViT, Swin, ConvNeXt, VGG, ...) are available as 'timm:<name>'"
            )
        for banned in ("weights", "num_classes"):
            if banned in kwargs:
                raise ValueError(
                    f"{banned}= is fixed by the backbone adapter (weights=None, classifier removed); "
                    "load local weights with pretrained_path=<file> instead"
                )
        try:
            model = torchvision.models.get_model(model_name, weights=None, **kwargs)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"torchvision.models.get_model({model_name!r}) rejected kwargs {kwargs}: {err}"
            ) from None
        self._trunk, self._head_attr = _FAMILIES[family]
        head = getattr(model, self._head_attr)
        linear = (
            head
            if isinstance(head, nn.Linear)
            else next(m for m in head.modules() if isinstance(m, nn.Linear))
        )
        setattr(model, self._head_attr, nn.Identity())
        if in_chans != 3:
            _replace_first_conv(model, in_chans)
        self.model = model
        self.model_name = model_name
        self.num_features = self.token_dim = int(linear.in_features)
        self.patch_size = 32
        self._set_spec("tv:" + model_name, {"in_chans": in_chans, "image_size": image_size, **kwargs})

    def _forward_pooled(self, x: Tensor) -> Tensor:
        return self.model(x)

    def _forward_tokens(self, x: Tensor) -> Tensor:
        return self._trunk(self.model, x).flatten(2).transpose(1, 2)

    def _weights_target(self) -> tuple[nn.Module, tuple[str, ...]]:
        return self.model, (self._head_attr,)
