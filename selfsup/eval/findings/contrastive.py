"""Findings on contrastive learning (SimCLR, MoCo): augmentations, negatives, the projection head.

See ``selfsup.eval.findings.catalog`` for how findings are declared and judged.
"""

from __future__ import annotations

from selfsup.eval.findings.spec import Claim, Comparison, Finding, Plot, Variant, across

C = Comparison

# SimCLR on Fashion-MNIST as shipped, with SimCLR's square-root lr scaling (Chen et al. 2020, §B.1:
# better than linear scaling for small batches and short training) so batch sizes compare fairly;
# at batch 256 it trains exactly as the shipped config.
SIMCLR_FM = ("optim.lr_scaling=sqrt",)
SIMCLR_256 = "SimCLR b256"

_NO_COLOUR = ("method.views.jitter_p=0.0", "method.views.grayscale_p=0.0")
_NO_CROP = (
    "method.views.crop_scale=[1.0,1.0]",
    "method.views.crop_ratio=[1.0,1.0]",
    "method.views.flip_p=0.0",
)
_BLUR = ("method.views.blur_p=0.5",)
AUGS = {
    "crop": _NO_COLOUR,
    "colour": _NO_CROP,
    "crop+colour": (),
    "crop+blur": _NO_COLOUR + _BLUR,
    "colour+blur": _NO_CROP + _BLUR,
    "crop+colour+blur": _BLUR,
}
SIMCLR_AUG_2 = Finding(
    name="simclr-augmentations",
    title="2. SimCLR: no single augmentation suffices; crop + colour is the strongest pair",
    paper="Chen et al. 2020, A Simple Framework for Contrastive Learning of Visual Representations, §3, Fig. 5",
    claim="Composing augmentations is crucial: no single transformation learns good features, and "
    "random crop + colour distortion is the strongest pair.",
    experiment="SimCLR (small ResNet) on the stamps (colour photos, 32 px) with crop only, colour only "
    "(jitter s = 1 + grayscale), the pairs crop+colour, crop+blur, colour+blur, and all three; linear "
    "probe on frozen features, test top-1. 'crop' is the random resized crop with flip.",
    data="stamps",
    epochs=100.0,  # ~640 train stamps / 128 = 5 steps per epoch: 500 steps, ~2-3 min per run
    overrides=(*SIMCLR_FM, "data.image_size=32", "train.batch_size=128", "method.views.jitter_strength=1.0"),
    variants=tuple(Variant(n, "simclr", "simclr_fashion_mnist", ov) for n, ov in AUGS.items()),
    claims=(
        Claim(
            "No single augmentation suffices: crop + colour beats crop alone and colour alone.",
            (C("crop+colour/linear", "crop/linear"), C("crop+colour/linear", "colour/linear")),
        ),
        Claim(
            "Crop + colour is the strongest pair: it beats crop + blur and colour + blur.",
            (C("crop+colour/linear", "crop+blur/linear"), C("crop+colour/linear", "colour+blur/linear")),
        ),
    ),
    plots=(
        Plot(
            "SimCLR on stamps: test top-1 by augmentation",
            "augmentations",
            tuple(AUGS),
            (("linear probe", across(tuple(AUGS), "linear")), ("kNN", across(tuple(AUGS), "knn"))),
            connect=False,
        ),
    ),
)

SIMCLR_BATCHES = ("64", "256", "1024")
MOCO_QUEUES = ("256", "1024", "4096")
_SB = tuple(f"SimCLR b{b}" for b in SIMCLR_BATCHES)
_MQ = tuple(f"MoCo v2 b64 q{q}" for q in MOCO_QUEUES)
NEGATIVES_3 = Finding(
    name="negatives",
    title="3. Negatives: larger batches help SimCLR; MoCo's queue matches a large batch in less memory",
    paper="Chen et al. 2020 (SimCLR) §5.2, Fig. 9; He et al. 2019 (MoCo) §3.2, Fig. 3; Chen et al. 2020 (MoCo v2)",
    claim="More negatives give better representations; MoCo's queue of past keys gives many negatives at "
    "a small batch, matching a large SimCLR batch at a fraction of the memory.",
    experiment="Fashion-MNIST, small ResNet, equal epochs: SimCLR at batch 64 / 256 / 1024 (sqrt lr "
    "scaling) and MoCo v2 at batch 64 with a queue of 256 / 1024 / 4096 keys; linear probe test top-1 "
    "and the training process's peak memory (CPU: peak RSS, which includes the ~0.9 GB of the process "
    "itself; CUDA: allocator peak).",
    data="fashion_mnist",
    epochs=2.0,  # 117 steps at batch 1024, 1875 at 64: short enough for 6 runs x 3 seeds
    variants=tuple(
        Variant(n, "simclr", "simclr_fashion_mnist", (*SIMCLR_FM, f"train.batch_size={b}"))
        for n, b in zip(_SB, SIMCLR_BATCHES, strict=True)
    )
    + tuple(
        Variant(n, "moco", "moco_fashion_mnist", ("train.batch_size=64", f"method.queue_size={q}"))
        for n, q in zip(_MQ, MOCO_QUEUES, strict=True)
    ),
    claims=(
        Claim(
            "More negatives help SimCLR at equal epochs: batch 1024 beats batch 64.",
            (C("SimCLR b1024/linear", "SimCLR b64/linear"),),
        ),
        Claim(
            "A longer queue helps MoCo at a small batch: 4096 keys beat 256.",
            (C("MoCo v2 b64 q4096/linear", "MoCo v2 b64 q256/linear"),),
        ),
        Claim(
            "MoCo at batch 64 with 4096 keys matches SimCLR at batch 1024 with less peak memory.",
            (
                C("MoCo v2 b64 q4096/linear", "SimCLR b1024/linear", "no_worse"),
                C("MoCo v2 b64 q4096/peak_memory_mb", "SimCLR b1024/peak_memory_mb", "less"),
            ),
        ),
    ),
    plots=(
        Plot(
            "SimCLR: test top-1 vs batch size (equal epochs)",
            "batch size (negatives = 2 x batch - 2)",
            SIMCLR_BATCHES,
            (("linear probe", across(_SB, "linear")), ("kNN", across(_SB, "knn"))),
        ),
        Plot(
            "MoCo v2 at batch 64: test top-1 vs queue size",
            "queue size (negatives)",
            MOCO_QUEUES,
            (("linear probe", across(_MQ, "linear")), ("kNN", across(_MQ, "knn"))),
        ),
        Plot(
            "Peak training memory",
            "run",
            ("SimCLR b64", "SimCLR b1024", "MoCo b64 q4096"),
            (
                (
                    "peak memory",
                    (
                        "SimCLR b64/peak_memory_mb",
                        "SimCLR b1024/peak_memory_mb",
                        "MoCo v2 b64 q4096/peak_memory_mb",
                    ),
                ),
            ),
            y_label="peak memory (MB)",
            percent=False,
            connect=False,
        ),
    ),
)

HEAD_4 = Finding(
    name="projection-head",
    title="4. Projection head: the representation before the head (h) is better than its output (z)",
    paper="Chen et al. 2020, SimCLR, §4.2, Fig. 8",
    claim="A nonlinear projection head improves the representation before it: h transfers better than z.",
    experiment="The SimCLR batch-256 run of finding 3 (Fashion-MNIST); kNN and linear probe on the "
    "encoder's pooled features h and on the projection head's output z, test top-1.",
    data="fashion_mnist",
    epochs=2.0,  # equal to finding 3, so its batch-256 run is reused
    variants=(
        Variant(
            SIMCLR_256,
            "simclr",
            "simclr_fashion_mnist",
            (*SIMCLR_FM, "train.batch_size=256"),
            ("frozen", "head"),
        ),
    ),
    claims=(
        Claim(
            "h beats z under linear probing and kNN.",
            (
                C(f"{SIMCLR_256}/linear", f"{SIMCLR_256}/linear_z"),
                C(f"{SIMCLR_256}/knn", f"{SIMCLR_256}/knn_z"),
            ),
        ),
    ),
    plots=(
        Plot(
            "SimCLR: encoder output h vs projection z",
            "protocol",
            ("linear probe", "kNN"),
            (
                ("h (encoder)", (f"{SIMCLR_256}/linear", f"{SIMCLR_256}/knn")),
                ("z (projection)", (f"{SIMCLR_256}/linear_z", f"{SIMCLR_256}/knn_z")),
            ),
            connect=False,
        ),
    ),
)
