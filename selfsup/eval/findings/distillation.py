"""Findings on self-distillation (DINO, Caron et al. 2021): what keeps it from collapsing, attention.

See ``selfsup.eval.findings.catalog`` for how findings are declared and judged.
"""

from __future__ import annotations

from selfsup.eval.findings.spec import Claim, Comparison, Finding, Plot, Variant, across

C = Comparison

DINO_VARIANTS = {
    "both, EMA": (),
    "centering only": ("method.teacher_temp=0.1", "method.warmup_teacher_temp=0.1"),
    "sharpening only": ("method.center=false",),
    "copy every iteration": ("method.teacher_update=iteration",),
    "copy every epoch": ("method.teacher_update=epoch",),
}
_DV = tuple(DINO_VARIANTS)
DINO_5 = Finding(
    name="dino-stability",
    title="5. DINO: centering and sharpening together, and a slowly moving teacher, avoid collapse",
    paper="Caron et al. 2021, Emerging Properties in Self-Supervised Vision Transformers, §5.2-5.3, Table 6, Fig. 7",
    claim="Centering alone collapses to a uniform output and sharpening alone to a one-hot output; only "
    "both together learn. A teacher copied from the student every iteration collapses; a per-epoch "
    "copy or an EMA teacher learns.",
    experiment="DINO (ViT 4 blocks x 64, 2 global + 4 local crops) on the 60,000 Fashion-MNIST images for "
    "3 epochs (2,811 steps, the length the shipped config was chosen at): centering + sharpening with the EMA teacher (the shipped config), centering only "
    "(teacher temperature = student temperature 0.1), sharpening only (no center), and the teacher "
    "copied every iteration / once per epoch; kNN test top-1 of the teacher (and of the same ViT at "
    "random init) and the collapse monitors (teacher entropy, batch-mean entropy; last quarter of the logged steps).",
    data="fashion_mnist",
    # 3 epochs of 60k images at batch 64 = 2,811 steps: the ~2,700 steps of the 8-minute budget the shipped
    # config's schedules were chosen at (BENCHMARKS.md §16.11, §19.1). 3 epochs of 10k images (468 steps)
    # stayed below the same ViT at random init on kNN (validation 58.67 vs 59.12, §20.4).
    epochs=3.0,
    # The shipped variant also scores the same ViT at random init: the bar "learns" has to clear.
    variants=tuple(
        Variant(n, "dino", "dino_fashion_mnist", ov, ("frozen", "monitors", *(("random_ref",) if n == _DV[0] else ())))
        for n, ov in DINO_VARIANTS.items()
    ),
    claims=(
        Claim(
            "The shipped DINO (both mechanisms, EMA teacher) learns at this scale: it beats the same ViT at "
            "random init (kNN), so the comparisons below can show what the others lose.",
            (C("both, EMA/knn", "both, EMA/random_knn"),),
        ),
        Claim(
            "Both mechanisms are needed: both beat centering only and sharpening only (kNN); centering "
            "only raises the teacher entropy (uniform collapse) and sharpening only lowers the batch-mean "
            "entropy (one-hot collapse).",
            (
                C("both, EMA/knn", "centering only/knn"),
                C("both, EMA/knn", "sharpening only/knn"),
                C("centering only/teacher_entropy", "both, EMA/teacher_entropy"),
                C("sharpening only/teacher_marginal_entropy", "both, EMA/teacher_marginal_entropy", "less"),
            ),
        ),
        Claim(
            "The teacher must lag the student: the EMA and the per-epoch copy beat a copy every iteration (kNN).",
            (C("both, EMA/knn", "copy every iteration/knn"), C("copy every epoch/knn", "copy every iteration/knn")),
        ),
    ),
    plots=(
        Plot(
            "DINO variants: test top-1",
            "variant",
            (*_DV, "random init"),
            (
                ("kNN", (*across(_DV, "knn"), "both, EMA/random_knn")),
                ("linear probe", (*across(_DV, "linear"), "both, EMA/random_linear")),
            ),
            connect=False),
        Plot(
            "DINO variants: collapse monitors at the end of training",
            "variant",
            _DV,
            (
                ("teacher entropy", across(_DV, "teacher_entropy")),
                ("batch-mean entropy", across(_DV, "teacher_marginal_entropy")),
            ),
            y_label="entropy (nats; log K = 6.93)",
            percent=False, connect=False),
    ),
)  # fmt: skip

_AV = ("DINO", "supervised")
_VIT = ("data.image_size=32",)  # the stamps at 32 px: the shipped 4 px patches give an 8x8 grid
ATTENTION_6 = Finding(
    name="attention",
    title="6. Attention: self-supervised ViTs attend to whole objects more than supervised ones",
    paper="Caron et al. 2021, DINO, §4.2.1 (Jaccard of the 60 %-mass attention masks, Fig. 4), Fig. 3",
    claim="The self-attention of a self-supervised (DINO) ViT covers the whole object more than a "
    "supervised ViT's: the mask that keeps 60 % of a head's [CLS] attention mass overlaps the object more.",
    experiment="DINO and the same ViT trained supervised (4 blocks x 64, 2 heads, 4 px patches) on the stamps "
    "at 32 px for equal epochs; each head's last-layer [CLS] attention on 160 stamps composited over real "
    "video frames (exact alpha masks, held-out stamps), kept to 60 % of its mass; Jaccard with the object "
    "(DINO's best head per object, and the mean over heads), and the same ViT at random init.",
    data="stamps",
    epochs=200.0,  # ~640 train stamps / 64 = 10 steps per epoch: 2,000 steps
    variants=(
        Variant("DINO", "dino", "dino_fashion_mnist", _VIT, ("frozen", "attention")),
        Variant("supervised", "supervised", "supervised_fashion_mnist", _VIT, ("frozen", "attention"),
                backbone_from="dino_fashion_mnist"),
    ),
    claims=(
        Claim(
            "DINO's attention covers the objects more than the supervised ViT's (best head per object).",
            (C("DINO/attention_best", "supervised/attention_best"),),
        ),
        Claim(
            "Training makes the attention find the objects: DINO's beats the same ViT at random init.",
            (C("DINO/attention_best", "DINO/random_attention_best"),),
        ),
    ),
    plots=(
        Plot(
            "Attention-mask Jaccard with the objects (60 % of the [CLS] attention mass)",
            "model",
            (*_AV, "random init"),
            (
                ("best head per object", (*across(_AV, "attention_best"), "DINO/random_attention_best")),
                ("mean over heads", (*across(_AV, "attention_mean"), "DINO/random_attention_mean")),
            ),
            y_label="Jaccard with the object (%)",
            connect=False,
        ),
    ),
)  # fmt: skip
