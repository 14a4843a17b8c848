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
    experiment="DINO (ViT 4 blocks x 64, 2 global + 4 local crops) on 10,000 Fashion-MNIST images for "
    "equal epochs: centering + sharpening with the EMA teacher (the shipped config), centering only "
    "(teacher temperature = student temperature 0.1), sharpening only (no center), and the teacher "
    "copied every iteration / once per epoch; kNN test top-1 of the teacher and the collapse monitors "
    "(teacher entropy, batch-mean entropy; last logged step).",
    data="fashion_mnist",
    epochs=3.0,  # of 10k images (156 steps each at batch 64): three per-epoch teacher copies
    overrides=("data.max_train_items=10000",),
    variants=tuple(Variant(n, "dino", "dino_fashion_mnist", ov, ("frozen", "monitors")) for n, ov in DINO_VARIANTS.items()),
    claims=(
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
        Plot("DINO variants: kNN test top-1", "variant", _DV, (("kNN", across(_DV, "knn")), ("linear probe", across(_DV, "linear"))), connect=False),
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

ATTENTION_6 = Finding(
    name="attention",
    title="6. Attention: self-supervised ViTs attend to whole objects more than supervised ones",
    paper="Caron et al. 2021, DINO, §4.2.1 (Table 1 of the segmentation from attention), Fig. 3-4",
    claim="The self-attention of a self-supervised ViT covers the whole object more than a supervised "
    "ViT's (Jaccard of the 60 %-mass attention mask with the object mask).",
    experiment="DINO and supervised ViTs on the stamps composited over real backgrounds (exact alpha masks); "
    "Jaccard of the attention masks with the objects.",
    data="stamps",
    epochs=0.0,
    available=False,
    reason="needs the attention-mask Jaccard evaluation (issue 12), which does not exist yet",
)
