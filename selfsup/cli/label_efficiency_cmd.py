"""``selfsup eval label-efficiency --encoder PATH --data NAME --fractions 0.01 0.1 1.0``.

Accuracy vs labels for the encoder, a random-init copy (whose fine-tune is supervised training
from scratch) and, with ``--pseudo-label``, the pseudo-labelling baseline. When the encoder sits in
a run directory (``RUN/encoder.safetensors``) the rows go to ``RUN/label_efficiency.json`` and the
plot to ``RUN/viz/label_efficiency.png``, where ``selfsup report`` picks them up; ``--out DIR``
overrides that.
"""

from __future__ import annotations

import argparse

from selfsup.cli.common import Default, SubCommand
from selfsup.cli.encoder_input import add_input_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    def default(name: str) -> Default:  # label_efficiency()'s
        return Default("selfsup.eval.label_efficiency", "label_efficiency", name)

    p.add_argument(
        "--encoder",
        required=True,
        help="exported encoder (RUN/encoder.safetensors), run directory or RUN/checkpoints/*.ckpt",
    )
    add_input_arguments(p)  # --data, --root, --image-size, --allow-input-mismatch: default as trained
    p.add_argument("--fractions", type=float, nargs="+", default=default("fractions"),
                   help="fractions of the train labels (default %(default)s)")  # fmt: skip
    p.add_argument("--protocols", nargs="+", default=default("protocols"), choices=["linear", "finetune"],
                   help="default %(default)s")  # fmt: skip
    p.add_argument("--finetune-steps", type=int, default=default("finetune_max_steps"),
                   help="max fine-tuning steps per fraction (default %(default)s)")  # fmt: skip
    p.add_argument("--pseudo-label", action="store_true", help="add the pseudo-labelling baseline")
    p.add_argument("--max-train", type=int, help="use only the first N train images")
    p.add_argument("--max-test", type=int, help="use only the first N test images")
    p.add_argument(
        "--seed",
        type=int,
        default=default("seed"),
        help="label-subset seed: the same subsets for every encoder (default %(default)s)",
    )
    p.add_argument("--out", help="output folder (default: the encoder's run directory)")


def run(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict
    from pathlib import Path

    from selfsup.cli.encoder_input import load_encoder_eval_data, resolve_encoder_input
    from selfsup.eval.label_efficiency import format_label_efficiency, label_efficiency, plot_label_efficiency
    from selfsup.runs import load_run

    inp = resolve_encoder_input(args, args.encoder)
    run = load_run(args.encoder)
    data = load_encoder_eval_data(inp, args.max_train, args.max_test)
    name = str(run.metadata.get("method", "encoder"))
    rows = label_efficiency(
        {name: run.encoder},
        data.train_images,
        data.train_labels,
        data.test_images,
        data.test_labels,
        fractions=args.fractions,
        protocols=args.protocols,
        finetune_max_steps=args.finetune_steps,
        pseudo_label=args.pseudo_label,
        mean=inp.spec.mean,
        std=inp.spec.std,
        seed=args.seed,
        log=print,
    )
    out = Path(args.out) if args.out else run.run_dir or Path(args.encoder).resolve().parent
    (out / "viz").mkdir(parents=True, exist_ok=True)
    (out / "label_efficiency.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    plot_label_efficiency(rows, str(out / "viz" / "label_efficiency.png"), f"{name} on {inp.data}")
    print(format_label_efficiency(rows))
    print(f"written: {out / 'label_efficiency.json'}, {out / 'viz' / 'label_efficiency.png'}")
    return 0


COMMAND = SubCommand("accuracy vs number of labels (1 %, 10 %, 100 %)", add_arguments, run)
