"""Findings on pretext tasks and label efficiency: pretext features vs random init, gains at few labels.

See ``selfsup.eval.findings.catalog`` for how findings are declared and judged.
"""

from __future__ import annotations

from selfsup.eval.findings.contrastive import SIMCLR_256, SIMCLR_FM
from selfsup.eval.findings.spec import Claim, Comparison, Diff, Finding, Plot, Variant, across

C = Comparison

PRETEXT = {
    "rotation": ("rotation", "rotation_fashion_mnist"),
    "jigsaw": ("jigsaw", "jigsaw_fashion_mnist"),
    "relative patch": ("relative_patch", "relative_patch_fashion_mnist"),
    "inpainting": ("inpainting", "inpainting_fashion_mnist"),
}
_PCT = ("1", "10", "100")
_S = SIMCLR_256
LABELS_7 = Finding(
    name="pretext-label-efficiency",
    title="7. Pretext tasks beat random init; pretraining helps most when labels are few",
    paper="Gidaris et al. 2018 (rotation), Noroozi & Favaro 2016 (jigsaw), Doersch et al. 2015 (relative "
    "patch), Pathak et al. 2016 (inpainting); SimCLR §4.2 / Hénaff et al. 2020 (label efficiency)",
    claim="Each pretext task learns features better than a random network, and self-supervised "
    "pretraining gains the most over training from scratch when few labels are available.",
    experiment="Fashion-MNIST, small ResNet: linear probe of each pretext task vs a random-init copy of "
    "the same network at the same input size; the SimCLR batch-256 encoder of finding 3 fine-tuned "
    "on 1 / 10 / 100 % of the train labels vs the same network trained from scratch, with the "
    "pseudo-label baseline (Lee 2013; threshold 0.95); test top-1.",
    data="fashion_mnist",
    epochs=2.0,  # equal to finding 3, so its SimCLR batch-256 run is reused
    variants=tuple(Variant(n, m, c, (), ("frozen", "random_ref")) for n, (m, c) in PRETEXT.items())
    + (Variant(_S, "simclr", "simclr_fashion_mnist", (*SIMCLR_FM, "train.batch_size=256"), ("frozen", "label_efficiency")),),
    derived=(
        Diff("gain at 1 %", f"{_S}/le_finetune_1", f"{_S}/scratch_finetune_1"),
        Diff("gain at 100 %", f"{_S}/le_finetune_100", f"{_S}/scratch_finetune_100"),
    ),
    claims=(
        Claim("Every pretext task beats its random-init network under linear probing.", tuple(C(f"{n}/linear", f"{n}/random_linear") for n in PRETEXT)),
        Claim(
            "Pretraining gains more over training from scratch at 1 % of the labels than at 100 % (fine-tuning).",
            (C("gain at 1 %", "gain at 100 %"),),
        ),
    ),
    plots=(
        Plot(
            "Pretext tasks vs random init (linear probe)",
            "pretext task",
            tuple(PRETEXT),
            (("pretrained", across(tuple(PRETEXT), "linear")), ("random init", across(tuple(PRETEXT), "random_linear"))), connect=False),
        Plot(
            "Label efficiency: test top-1 vs fraction of labels (%)",
            "labelled fraction of train (%)",
            _PCT,
            (
                ("SimCLR fine-tune", tuple(f"{_S}/le_finetune_{p}" for p in _PCT)),
                ("SimCLR linear", tuple(f"{_S}/le_linear_{p}" for p in _PCT)),
                ("from scratch", tuple(f"{_S}/scratch_finetune_{p}" for p in _PCT)),
                ("pseudo-label", (f"{_S}/pseudo_label_1", f"{_S}/pseudo_label_10", None)),
            ),
        ),
    ),
)  # fmt: skip
