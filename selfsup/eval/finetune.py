"""End-to-end fine-tuning of a pretrained encoder with a linear classifier on top.

The recipe follows MAE's fine-tuning protocol (He et al. 2021, §A.2, Table 9): AdamW
(betas 0.9 / 0.999, weight decay 0.05), linear warm-up then cosine decay, **layer-wise lr decay**
(Clark et al. 2020; BEiT, Bao et al. 2021): block ``i`` of ``n`` gets ``lr * decay^(n + 1 - i)``,
the patch embedding / class token / position embedding ``lr * decay^(n + 1)``, the final norm and
the head ``lr``; **drop path** (stochastic depth, Huang et al. 2016; 0.1 for ViT-B) and
**label smoothing** (0.1). Mixup, CutMix and RandAugment of the paper's ImageNet recipe are not
used: views are a batched random resized crop + horizontal flip (``selfsup.views``).

Layer-wise decay needs a ViT with ``blocks`` (timm names); other encoders train every layer with
the same lr. Drop path is applied where the backbone has it: a ``timm:`` backbone is rebuilt with
``drop_path_rate`` (ViTs, and timm's CNNs that take it); backbones without stochastic depth (the
default ``resnet_small`` and ``tv:`` nets, timm models that refuse the argument) fine-tune without it,
so the default config works on every encoder. ``FinetuneResult.drop_path`` says what was applied.
The classifier sits on the encoder's pooled features (``encoder(x) -> [B, D]``).
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.eval.features import preprocess_for_eval
from selfsup.nn.dropout import max_drop_path
from selfsup.schedules import warmup_cosine
from selfsup.types import Progress
from selfsup.views import normalize, random_resized_crop, to_float

__all__ = ["FinetuneConfig", "FinetuneResult", "finetune", "layer_decay_param_groups", "vit_layer_id"]

_EMBED_NAMES = ("cls_token", "reg_token", "pos_embed", "patch_embed", "dist_token", "mask_token")
_NO_DECAY_NAMES = ("cls_token", "reg_token", "pos_embed", "dist_token")


@dataclass
class FinetuneConfig:
    epochs: float = 10.0
    batch_size: int = 128
    lr: float = 5e-4  # MAE Table 9: base lr 5e-4 per 256 images (lr = base * batch / 256)
    min_lr: float = 1e-6  # MAE fine-tuning: cosine down to 1e-6
    weight_decay: float = 0.05  # MAE Table 9
    betas: tuple[float, float] = (0.9, 0.999)  # MAE Table 9
    layer_decay: float = 0.75  # MAE Table 9: 0.75 (ViT-B uses 0.65 in the released recipe)
    drop_path: float = 0.1  # MAE Table 9: 0.1 (ViT-B); only where the backbone has stochastic depth
    label_smoothing: float = 0.1  # MAE Table 9
    warmup_epochs: float = 1.0  # MAE: 5 of 100 epochs; scaled down for short schedules
    crop_scale: tuple[float, float] = (0.08, 1.0)  # RandomResizedCrop default
    flip_p: float = 0.5
    seed: int = 0
    eval_batch_size: int = 512

    def validate(self) -> None:
        if not self.epochs > 0 or self.batch_size < 1:
            raise ValueError("finetune epochs must be > 0 and batch_size >= 1")
        if not self.lr > 0:
            raise ValueError(f"finetune lr must be > 0, got {self.lr}")
        if not 0.0 < self.layer_decay <= 1.0:
            raise ValueError(f"finetune layer_decay must be in (0, 1] (1 = off), got {self.layer_decay}")
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"finetune drop_path must be in [0, 1), got {self.drop_path}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"finetune label_smoothing must be in [0, 1), got {self.label_smoothing}")


@dataclass
class FinetuneResult:
    test_accuracy: float
    train_loss: float  # mean loss over the last epoch
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    model: nn.Module | None = None  # the fine-tuned encoder + classifier (eval mode)
    drop_path: float = 0.0  # largest stochastic-depth rate in the fine-tuned encoder (0: it has none)


def vit_layer_id(name: str, num_layers: int) -> int:
    """BEiT / MAE layer index of parameter ``name``: 0 embeddings, ``i + 1`` block i, else ``n + 1``."""
    parts = name.split(".")
    if any(p in _EMBED_NAMES for p in parts):
        return 0
    match = re.search(r"(?:^|\.)blocks\.(\d+)\.", name)
    if match:
        return int(match.group(1)) + 1
    return num_layers + 1


def _num_blocks(model: nn.Module) -> int:
    ids = {int(m.group(1)) for n, _ in model.named_parameters() if (m := re.search(r"blocks\.(\d+)\.", n))}
    return max(ids) + 1 if ids else 0


def layer_decay_param_groups(
    model: nn.Module, weight_decay: float, layer_decay: float, num_layers: int | None = None
) -> list[dict[str, Any]]:
    """AdamW groups with ``lr_scale = layer_decay ** (num_layers + 1 - layer_id)``.

    Biases, norms, class tokens and position embeddings get no weight decay. ``num_layers``
    defaults to the number of ``blocks.<i>`` found; without blocks every scale is 1.
    """
    n = _num_blocks(model) if num_layers is None else num_layers
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim <= 1 or name.rsplit(".", 1)[-1] in _NO_DECAY_NAMES
        layer = vit_layer_id(name, n) if n > 0 else 0
        scale = layer_decay ** (n + 1 - layer) if n > 0 else 1.0
        key = (layer, no_decay)
        if key not in groups:
            groups[key] = {
                "params": [],
                "names": [],
                "weight_decay": 0.0 if no_decay else weight_decay,
                "lr_scale": scale,
            }
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return [groups[k] for k in sorted(groups)]


def _with_drop_path(encoder: nn.Module, rate: float) -> nn.Module:
    """A copy of ``encoder`` with stochastic depth ``rate`` where its architecture has it (same weights).

    ``timm:`` backbones are rebuilt with ``drop_path_rate``; any other backbone, or a timm model whose
    constructor refuses the argument, is copied as it is (no stochastic depth to switch on).
    """
    spec = getattr(encoder, "spec", None)
    name = str(spec.get("name", "")) if spec else ""
    if rate == 0.0 or not name.startswith("timm:"):
        return copy.deepcopy(encoder)
    from selfsup.backbones import create_backbone

    try:
        rebuilt = create_backbone(name, **{**spec["kwargs"], "drop_path_rate": rate})
    except ValueError as err:  # the timm adapter's message for arguments timm.create_model rejected
        if "drop_path_rate" not in str(err):
            raise
        return copy.deepcopy(encoder)
    rebuilt.load_state_dict(encoder.state_dict())
    return rebuilt.to(next(encoder.parameters()).device)


class _Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(int(encoder.num_features), num_classes)
        nn.init.trunc_normal_(self.head.weight, std=2e-5)  # MAE fine-tuning: head std 2e-5
        nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))


@torch.no_grad()
def classifier_accuracy(
    model: nn.Module, images: Tensor, labels: Tensor, size: int, mean: Any, std: Any, batch: int
) -> float:
    """Top-1 in [0, 1] of ``model`` (a fine-tuned classifier) on uint8 ``images [N, C, H, W]``."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for s in range(0, images.shape[0], batch):
        x = preprocess_for_eval(images[s : s + batch].to(device), size, mean, std)
        correct += int((model(x).argmax(1).cpu() == labels[s : s + batch]).sum())
    return correct / max(1, images.shape[0])


def finetune(
    encoder: nn.Module,
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor | None,
    test_labels: Tensor | None,
    config: FinetuneConfig | None = None,
    *,
    image_size: int | None = None,
    mean: Sequence[float] | float | None = None,
    std: Sequence[float] | float | None = None,
    num_classes: int | None = None,
    log: Callable[[str], None] | None = None,
) -> FinetuneResult:
    """Fine-tune a copy of ``encoder`` (unchanged itself) on uint8 ``train_images [N, C, H, W]``.

    Returns top-1 accuracy on ``test_images`` after the schedule (NaN when no test set is given)
    and the fine-tuned model. ``mean``/``std`` are the
    pretraining normalization (default 0.5); ``image_size`` defaults to the images' size.
    ``config.seed`` fixes everything random (head init, data order, crops, drop path), so one seed
    gives one result whatever ran before; the caller's global RNG state is left as it was.
    """
    cfg = config or FinetuneConfig()
    cfg.validate()
    device = next(encoder.parameters()).device
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        started = time.perf_counter()
        size = int(image_size or train_images.shape[-1])
        classes = int(num_classes or int(train_labels.max()) + 1)
        model = _Classifier(_with_drop_path(encoder, cfg.drop_path), classes).to(device)
        applied = max_drop_path(model)
        if log is not None and cfg.drop_path > 0 and applied == 0.0:
            name = (getattr(encoder, "spec", None) or {}).get("name", type(encoder).__name__)
            log(f"finetune: backbone {name!r} has no stochastic depth; drop_path={cfg.drop_path} not applied")
        model.requires_grad_(True)  # MAE freezes its sin-cos embeddings in pretraining only
        groups = layer_decay_param_groups(model, cfg.weight_decay, cfg.layer_decay)
        for g in groups:
            g.pop("names")
        n = train_images.shape[0]
        bs = min(cfg.batch_size, n)
        steps_per_epoch = n // bs
        total = max(1, math.ceil(cfg.epochs * steps_per_epoch))
        peak = cfg.lr * bs * 1.0 / 256
        warmup = min(total - 1, round(cfg.warmup_epochs * steps_per_epoch)) if total > 1 else 0
        opt = torch.optim.AdamW(groups, lr=peak, betas=cfg.betas)
        norm_mean = 0.5 if mean is None else mean
        norm_std = 0.5 if std is None else std
        gen = torch.Generator(device=device).manual_seed(cfg.seed)
        cpu_gen = torch.Generator().manual_seed(cfg.seed)
        history: list[dict[str, float]] = []
        losses: list[float] = []
        step = 0
        model.train()
        while step < total:
            order = torch.randperm(n, generator=cpu_gen)
            for b in range(steps_per_epoch):
                if step >= total:
                    break
                idx = order[b * bs : (b + 1) * bs]
                x = to_float(train_images[idx].to(device))
                x = random_resized_crop(x, size, cfg.crop_scale, flip_p=cfg.flip_p, generator=gen)
                x = normalize(x, norm_mean, norm_std)
                y = train_labels[idx].to(device)
                lr = warmup_cosine(Progress(step, total, steps_per_epoch), peak, cfg.min_lr, warmup)
                for g in opt.param_groups:
                    g["lr"] = lr * g["lr_scale"]
                loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                step += 1
            epoch_loss = sum(losses[-steps_per_epoch:]) / max(1, len(losses[-steps_per_epoch:]))
            history.append({"epoch": step / steps_per_epoch, "train_loss": epoch_loss})
            if log is not None:
                log(f"finetune epoch {step / steps_per_epoch:.2f}: train loss {epoch_loss:.4f}")
        acc = float("nan")
        if test_images is not None and test_labels is not None:
            acc = classifier_accuracy(
                model, test_images, test_labels, size, norm_mean, norm_std, cfg.eval_batch_size
            )
        model.eval()
        return FinetuneResult(
            test_accuracy=acc,
            train_loss=history[-1]["train_loss"],
            steps=step,
            seconds=time.perf_counter() - started,
            history=history,
            model=model,
            drop_path=applied,
        )
