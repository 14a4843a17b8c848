"""Label efficiency: accuracy vs number of labels for an encoder and the baselines a user would try.

For each label fraction (default 1 %, 10 %, 100 %, the semi-supervised ImageNet protocol of
SimCLR, Chen et al. 2020, §4.2) a **class-balanced, seeded, nested** subset of the train split is
drawn (``label_subset``): every class keeps ``round(fraction * n_c)`` (at least 1) of its images,
taken as a prefix of one per-class permutation, so the 1 % subset is inside the 10 % one and
every method evaluated with the same seed sees exactly the same labels. The test split is never
touched. On each subset:

- ``linear``: linear probe on frozen features (``selfsup.eval.linear_probe``);
- ``finetune``: end-to-end fine-tuning (``selfsup.eval.finetune``), steps capped per fraction;

for the encoder under test and for a random-init copy (whose fine-tune *is* supervised training
from scratch). ``pseudo_label`` adds the semi-supervised baseline (Lee 2013): a from-scratch model
trained on the labelled subset labels the remaining train images, those with confidence >=
0.95 (FixMatch's threshold, Sohn et al. 2020) join the labelled set, and a second model trains on both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.eval.baselines import random_init_copy
from selfsup.eval.features import extract_features, preprocess_for_eval
from selfsup.eval.finetune import FinetuneConfig, finetune
from selfsup.eval.linear_probe import DEFAULT_WEIGHT_DECAYS, linear_probe

DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)
PSEUDO_LABEL_THRESHOLD = 0.95


def label_subset(labels: Tensor, fraction: float, seed: int = 0) -> Tensor:
    """Sorted indices of a class-balanced ``fraction`` of ``labels [N]`` (nested across fractions)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    labels = labels.cpu()
    generator = torch.Generator().manual_seed(seed)
    parts = []
    for cls in torch.unique(labels).tolist():
        members = (labels == cls).nonzero().flatten()
        order = members[torch.randperm(members.numel(), generator=generator)]
        parts.append(order[: max(1, round(fraction * members.numel()))])
    return torch.cat(parts).sort().values


@dataclass(frozen=True)
class LabelEfficiencyRow:
    encoder: str  # e.g. "simclr", "random init"
    protocol: str  # linear | finetune | pseudo_label
    fraction: float
    num_labels: int
    accuracy: float


def _finetune_config(base: FinetuneConfig, num_labels: int, max_steps: int | None) -> FinetuneConfig:
    """``base`` with its epochs cut so that at most ``max_steps`` optimizer steps run."""
    steps_per_epoch = max(1, num_labels // min(base.batch_size, num_labels))
    epochs = base.epochs if max_steps is None else min(base.epochs, max_steps / steps_per_epoch)
    return dataclasses.replace(base, epochs=max(epochs, 1.0 / steps_per_epoch))


@torch.no_grad()
def _predict(
    model: nn.Module, images: Tensor, size: int, mean, std, batch: int = 512
) -> tuple[Tensor, Tensor]:
    model.eval()
    probs = []
    for s in range(0, images.shape[0], batch):
        x = preprocess_for_eval(images[s : s + batch], size, mean, std)
        probs.append(model(x).softmax(dim=1))
    p = torch.cat(probs)
    return p.max(dim=1).values, p.argmax(dim=1)


def pseudo_label_accuracy(
    train_images: Tensor,
    train_labels: Tensor,
    labelled: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    make_encoder: Callable[[], nn.Module],
    config: FinetuneConfig,
    threshold: float = PSEUDO_LABEL_THRESHOLD,
    mean=None,
    std=None,
) -> tuple[float, int]:
    """(test accuracy, pseudo-labels used) of two-round pseudo-labelling from scratch."""
    num_classes = int(train_labels.max()) + 1
    size = int(train_images.shape[-1])
    first = finetune(
        make_encoder(),
        train_images[labelled],
        train_labels[labelled],
        None,
        None,
        config,
        mean=mean,
        std=std,
        num_classes=num_classes,
    )
    unlabelled = torch.ones(train_images.shape[0], dtype=torch.bool)
    unlabelled[labelled] = False
    pool = unlabelled.nonzero().flatten()
    confidence, guess = _predict(
        first.model,
        train_images[pool],
        size,
        mean if mean is not None else 0.5,
        std if std is not None else 0.5,
    )
    confident = pool[confidence >= threshold]
    images = torch.cat([train_images[labelled], train_images[confident]])
    labels = torch.cat([train_labels[labelled], guess[confidence >= threshold]])
    second = finetune(
        make_encoder(),
        images,
        labels,
        test_images,
        test_labels,
        config,
        mean=mean,
        std=std,
        num_classes=num_classes,
    )
    return second.test_accuracy, int(confident.numel())


def label_efficiency(
    encoders: dict[str, nn.Module],
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    protocols: Sequence[str] = ("linear", "finetune"),
    finetune_config: FinetuneConfig | None = None,
    finetune_max_steps: int | None = 500,
    pseudo_label: bool = False,
    random_init: bool = True,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> list[LabelEfficiencyRow]:
    """Accuracy of every encoder (plus a random-init copy of the first) per fraction and protocol.

    Images uint8 ``[N, C, H, W]`` / ``[M, C, H, W]``, labels int64. ``mean``/``std``: the
    pretraining normalization. ``finetune_max_steps`` caps each fine-tune (CPU budgets);
    ``weight_decays`` is the linear probe's grid (chosen on a held-out part of each subset).
    """
    unknown = set(protocols) - {"linear", "finetune"}
    if unknown or not protocols:
        raise ValueError(
            f"protocols must be a non-empty subset of ('linear', 'finetune'), got {list(protocols)}"
        )
    if not encoders:
        raise ValueError("encoders must name at least one encoder")
    models = dict(encoders)
    first = next(iter(encoders.values()))
    if random_init:
        models["random init"] = random_init_copy(first, seed=seed)
    base = finetune_config or FinetuneConfig(seed=seed)
    num_classes = int(max(int(train_labels.max()), int(test_labels.max()))) + 1
    rows: list[LabelEfficiencyRow] = []

    def add(name: str, protocol: str, fraction: float, n: int, acc: float) -> None:
        rows.append(LabelEfficiencyRow(name, protocol, fraction, n, acc))
        if log is not None:
            log(f"{name:>14} {protocol:>12} {fraction:>7.2%} ({n} labels): {acc:.2%}")

    features = {}
    if "linear" in protocols:
        for name, model in models.items():
            features[name] = (
                extract_features(model, train_images, mean=mean, std=std),
                extract_features(model, test_images, mean=mean, std=std),
            )
    for fraction in fractions:
        idx = label_subset(train_labels, fraction, seed)
        n = int(idx.numel())
        cfg = _finetune_config(base, n, finetune_max_steps)
        for name, model in models.items():
            if "linear" in protocols:
                tr, te = features[name]
                probe = linear_probe(
                    tr[idx],
                    train_labels[idx],
                    te,
                    test_labels,
                    weight_decays,
                    seed=seed,
                    num_classes=num_classes,
                )
                add(name, "linear", fraction, n, probe.test_accuracy)
            if "finetune" in protocols:
                result = finetune(
                    model,
                    train_images[idx],
                    train_labels[idx],
                    test_images,
                    test_labels,
                    cfg,
                    mean=mean,
                    std=std,
                    num_classes=num_classes,
                )
                add(name, "finetune", fraction, n, result.test_accuracy)
        if pseudo_label and fraction < 1.0:
            acc, used = pseudo_label_accuracy(
                train_images,
                train_labels,
                idx,
                test_images,
                test_labels,
                lambda: random_init_copy(first, seed=seed),
                cfg,
                mean=mean,
                std=std,
            )
            add("pseudo-label", "pseudo_label", fraction, n, acc)
            if log is not None:
                log(f"pseudo-label at {fraction:.2%}: {used} confident pseudo-labels added")
    return rows


def plot_label_efficiency(rows: Sequence[LabelEfficiencyRow], path: str, title: str = "") -> None:
    """Accuracy vs number of labels (log x axis), one line per (encoder, protocol)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for key in dict.fromkeys((r.encoder, r.protocol) for r in rows):
        pts = sorted((r.num_labels, r.accuracy) for r in rows if (r.encoder, r.protocol) == key)
        ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o", label=f"{key[0]} ({key[1]})")
    ax.set_xscale("log")
    ax.set_xlabel("labelled training images")
    ax.set_ylabel("test top-1 (%)")
    ax.set_title(title or "label efficiency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def format_label_efficiency(rows: Sequence[LabelEfficiencyRow]) -> str:
    """Markdown: one row per (encoder, protocol), one column per fraction (accuracy in %)."""
    fractions = sorted({r.fraction for r in rows})
    head = (
        "| encoder | protocol | "
        + " | ".join(
            f"{f:.0%} ({next(r.num_labels for r in rows if r.fraction == f)} labels)" for f in fractions
        )
        + " |"
    )
    lines = [head, "|---|---|" + "---:|" * len(fractions)]
    for key in dict.fromkeys((r.encoder, r.protocol) for r in rows):
        acc = {r.fraction: r.accuracy for r in rows if (r.encoder, r.protocol) == key}
        cells = " | ".join(f"{100 * acc[f]:.2f}" if f in acc else "-" for f in fractions)
        lines.append(f"| {key[0]} | {key[1]} | {cells} |")
    return "\n".join(lines)
