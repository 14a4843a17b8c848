"""Held-out pretext metrics of a trained colorization run vs the best constant predictor.

Loads ``RUN/checkpoints/*.ckpt`` and evaluates ``Colorization.pretext_metrics`` on a test split
(whole images resized to the run's size, no crop): the unweighted soft cross-entropy (the
``rebalance: false`` loss) and the class-rebalanced one (eq. 2, weights from the run's training prior),
each beside the best constant distribution fitted on the test images themselves (an oracle lower
bound for any constant guess), nearest-bin accuracy beside the most frequent bin, and the
annealed-mean ab RMSE beside predicting gray (ab = 0).

    python benchmarks/colorization_heldout.py --checkpoint RUN/checkpoints/last.ckpt [--data stamps]
"""

from __future__ import annotations

import argparse
import json

from selfsup.data import create_dataset, dataset_to_tensors
from selfsup.runs import load_run
from selfsup.views import resize, to_float


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", default="stamps")
    parser.add_argument("--max-test", type=int)
    parser.add_argument("--json")
    args = parser.parse_args()
    run = load_run(args.checkpoint, "colorization", need_method=True)
    method, size = run.method, run.spec.image_size
    images, _ = dataset_to_tensors(
        create_dataset(args.data, "test", image_size=size), max_items=args.max_test
    )
    metrics = method.pretext_metrics(resize(to_float(images), size))
    print(f"{images.shape[0]} {args.data} test images at {size} px; trained vs trivial")
    pairs = [
        ("ce", "const_ce"),
        ("loss_rb", "const_loss_rb"),
        ("bin_acc", "mode_acc"),
        ("ab_rmse", "gray_rmse"),
    ]
    for ours, trivial in pairs:
        if ours in metrics:
            print(f"{ours:>8} {metrics[ours]:8.4f}   {trivial:>13} {metrics[trivial]:8.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(metrics, f, indent=2)


if __name__ == "__main__":
    main()
