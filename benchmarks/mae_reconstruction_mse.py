"""Masked-patch reconstruction error of a trained MAE on a test split vs the per-image-mean baseline.

For each mask ratio, every test image gets a random mask (seeded); the error is the mean squared
error per masked value in the model's target space (per-patch normalized pixels when the run used
``norm_pix_loss``, else normalized pixels). The baseline predicts every masked value of an image as
the mean of that image's visible target values (``selfsup.viz.reconstruct.masked_patch_mse``).

    python benchmarks/mae_reconstruction_mse.py --checkpoint RUN/checkpoints/last.ckpt \
        [--data fashion_mnist] [--max-test 10000] [--mask-ratio 0.5 0.75 0.9]
"""

from __future__ import annotations

import argparse
import json

from selfsup.data import create_dataset, dataset_to_tensors
from selfsup.runs import load_run
from selfsup.viz.reconstruct import masked_patch_mse


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--max-test", type=int)
    parser.add_argument("--mask-ratio", type=float, nargs="+", default=[0.75])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    method = load_run(args.checkpoint, "mae", need_method=True).method
    images, _ = dataset_to_tensors(create_dataset(args.data, "test"), max_items=args.max_test)
    space = "per-patch normalized pixels" if method.config.norm_pix_loss else "normalized pixels"
    print(f"{images.shape[0]} {args.data} test images; MSE per masked value in {space}")
    print(f"{'mask ratio':>10} {'MAE':>9} {'per-image mean':>15} {'MAE / baseline':>15}")
    rows = []
    for ratio in args.mask_ratio:
        res = masked_patch_mse(method, images, ratio, seed=args.seed)
        rows.append({"mask_ratio": ratio, **res})
        print(
            f"{ratio:>10.2f} {res['model']:>9.4f} {res['mean_baseline']:>15.4f} {res['model'] / res['mean_baseline']:>15.3f}"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
