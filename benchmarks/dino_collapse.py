"""DINO collapse experiment (Caron et al. 2021, §5.3, Fig. 7): centering and sharpening are both needed.

Trains the same small DINO model on Fashion-MNIST three times from the same initialization and data
order, changing one thing:

- ``both``:           centering on, sharpening on (teacher temperature 0.04, student 0.1);
- ``no_centering``:   the center is never subtracted (``method.center=false``): expect one-hot collapse,
                      the teacher's per-sample and batch-mean entropies fall to ~0;
- ``no_sharpening``:  the teacher is no sharper than the student (``τ_t = τ_s = 0.1``): expect uniform
                      collapse, the teacher entropy rises to ~log K.

In both collapsed runs the student matches the teacher, so ``KL(teacher || student) → 0``. The monitors
are the ones ``selfsup.methods.dino`` logs every step (``selfsup.monitors.collapse``); the table shows their
mean over the last 10 steps, the collapse status, and the kNN accuracy of the teacher backbone (k = 20,
T = 0.07) on a slice of the test set.

    python benchmarks/dino_collapse.py [--steps 150] [--batch-size 64] [--out-dim 256] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from selfsup.backbones import create_backbone
from selfsup.data import create_dataset, dataset_to_tensors
from selfsup.eval.features import extract_features
from selfsup.eval.knn import knn_accuracy
from selfsup.methods.dino import DINO, DINOConfig
from selfsup.monitors.collapse import collapse_status
from selfsup.types import Progress

VARIANTS = {
    "both": {},
    "no_centering": {"center": False},
    "no_sharpening": {"teacher_temp": 0.1, "warmup_teacher_temp": 0.1},
}
MONITORS = ("teacher_entropy", "teacher_marginal_entropy", "kl_teacher_student", "embedding_std")


def build(args: argparse.Namespace, **overrides) -> DINO:
    torch.manual_seed(args.seed)  # same initialization for every variant
    backbone = create_backbone(
        "timm:vit_tiny_patch16_224",
        in_chans=1,
        image_size=28,
        patch_size=4,
        embed_dim=args.width,
        depth=args.depth,
        num_heads=2,
        dynamic_img_size=True,
    )
    settings = {
        "out_dim": args.out_dim,
        "hidden_dim": 256,
        "bottleneck_dim": 64,
        "teacher_temp": args.teacher_temp,
        "warmup_teacher_temp": args.teacher_temp,
        "warmup_teacher_temp_epochs": 0.0,
        "momentum_teacher": args.momentum,
        "freeze_last_layer_epochs": 0.0,
        "n_local_crops": args.local_crops,
        "local_size": 12,
        "head_bn": args.head_bn,
    }
    cfg = DINOConfig(**{**settings, **overrides})
    return DINO(backbone, cfg)


def train(method: DINO, images: torch.Tensor, args: argparse.Namespace) -> list[dict[str, float]]:
    groups = method.param_groups(0.04)
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=0.04)
    g = torch.Generator().manual_seed(args.seed)
    order = torch.Generator().manual_seed(args.seed + 1)  # same data order for every variant
    history = []
    for step in range(args.steps):
        progress = Progress(step, args.steps, steps_per_epoch=max(1, images.shape[0] // args.batch_size))
        idx = torch.randint(0, images.shape[0], (args.batch_size,), generator=order)
        out = method.training_step(method.make_batch(images[idx], generator=g), progress)
        out.loss.backward()
        method.after_backward(progress)
        torch.nn.utils.clip_grad_norm_(method.parameters(), 3.0)
        for group in opt.param_groups:  # linear lr warm-up, then constant
            group["lr"] = args.lr * min(1.0, (step + 1) / max(1, args.warmup_steps))
        opt.step()
        opt.zero_grad(set_to_none=True)
        method.after_optimizer_step(progress)
        history.append({"loss": out.loss.item(), **{k: float(out.metrics[k]) for k in MONITORS}})
    return history


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out-dim", type=int, default=256)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--local-crops", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup-steps", type=int, default=15)
    parser.add_argument("--teacher-temp", type=float, default=0.04)
    parser.add_argument("--momentum", type=float, default=0.99)
    parser.add_argument("--train-items", type=int, default=10000)
    parser.add_argument("--knn-items", type=int, default=2000)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--head-bn", action="store_true", help="batch norm in the head MLP")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()

    images, _ = dataset_to_tensors(create_dataset("fashion_mnist", "train"), max_items=args.train_items)
    knn_tr, knn_tr_y = dataset_to_tensors(create_dataset("fashion_mnist", "train"), max_items=args.knn_items)
    knn_te, knn_te_y = dataset_to_tensors(
        create_dataset("fashion_mnist", "test"), max_items=args.knn_items // 2
    )
    log_k = math.log(args.out_dim)
    print(
        f"DINO collapse experiment: ViT width {args.width} depth {args.depth}, K = {args.out_dim} "
        f"(log K = {log_k:.3f}), {args.steps} steps of {args.batch_size} images, 2 global + "
        f"{args.local_crops} local crops; monitors = mean of the last 10 steps"
    )
    header = f"{'variant':<14} {'H(teacher)':>10} {'H(mean)':>8} {'KL(t||s)':>9} {'emb std':>8} {'status':>8} {'kNN %':>6}"
    print(header)
    results = {}
    kw = {"mean": [0.5], "std": [0.5]}
    init = build(args).encoder
    random_acc = knn_accuracy(
        extract_features(init, knn_tr, **kw), knn_tr_y, extract_features(init, knn_te, **kw), knn_te_y
    )
    print(f"{'random init':<14} {'':>10} {'':>8} {'':>9} {'':>8} {'':>8} {100 * random_acc:>6.1f}")
    results["random_init"] = {"knn": random_acc}
    for name in args.variants:
        start = time.perf_counter()
        method = build(args, **VARIANTS[name])
        history = train(method, images, args)
        last = {k: sum(h[k] for h in history[-10:]) / len(history[-10:]) for k in ("loss", *MONITORS)}
        status = collapse_status(
            entropy=last["teacher_entropy"],
            marginal=last["teacher_marginal_entropy"],
            num_classes=args.out_dim,
        )
        acc = knn_accuracy(
            extract_features(method.encoder, knn_tr, **kw),
            knn_tr_y,
            extract_features(method.encoder, knn_te, **kw),
            knn_te_y,
        )
        results[name] = {
            **last,
            "status": status,
            "knn": acc,
            "seconds": time.perf_counter() - start,
            "history": history,
        }
        print(
            f"{name:<14} {last['teacher_entropy']:>10.3f} {last['teacher_marginal_entropy']:>8.3f} "
            f"{last['kl_teacher_student']:>9.4f} {last['embedding_std']:>8.4f} {status:>8} {100 * acc:>6.1f}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "log_k": log_k, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
