"""``selfsup eval PROTOCOL``: every evaluation is a sub-command with its own options.

- ``knn`` / ``linear``: an exported encoder (``--encoder RUN/encoder.safetensors``) on labelled data,
  beside raw-pixel and random-init rows; ``finetune``, ``label-efficiency``, ``quality``: the same
  input (``finetune_cmd``, ``label_efficiency_cmd``, ``quality_cmd``).
- ``zeroshot`` / ``retrieval``: a CLIP run or an open_clip file (``zeroshot_cmd``).
- ``davis``: J&F of predicted masks (``video_cmd``); ``attention-masks``: ViT attention vs object masks.

The old top-level spellings (``selfsup eval-finetune`` ...) still work, hidden, with a one-line note.
"""

from __future__ import annotations

import argparse

from selfsup.cli.common import Default, SubCommand, add_old_spelling, add_subcommands
from selfsup.cli.encoder_input import add_input_arguments

OLD_SPELLINGS = ("finetune", "label-efficiency", "quality", "davis", "attention-masks")  # were eval-<name>
CONFIG = "selfsup.train.config"  # EvalConfig: the kNN defaults


def protocols() -> dict[str, SubCommand]:
    from selfsup.cli import attention_masks_cmd, finetune_cmd, label_efficiency_cmd, quality_cmd, video_cmd
    from selfsup.cli import zeroshot_cmd as clip

    return {
        "knn": SubCommand(
            "weighted kNN on frozen features (+ raw-pixel, random-init rows)", add_arguments, run
        ),
        "linear": SubCommand("kNN and a linear probe on frozen features", add_arguments, run),
        "finetune": finetune_cmd.COMMAND,
        "label-efficiency": label_efficiency_cmd.COMMAND,
        "quality": quality_cmd.COMMAND,
        "zeroshot": clip.ZEROSHOT,
        "retrieval": clip.RETRIEVAL,
        "davis": video_cmd.DAVIS,
        "attention-masks": attention_masks_cmd.COMMAND,
    }


def add_parser(sub: argparse._SubParsersAction) -> None:
    table = protocols()
    p = sub.add_parser(
        "eval",
        help="evaluate an encoder or a CLIP model: " + ", ".join(table),
        description="Evaluate an encoder or a CLIP model; each protocol has its own options "
        "(selfsup eval PROTOCOL --help).",
    )
    add_subcommands(p, "protocol", table)
    for name in OLD_SPELLINGS:
        add_old_spelling(sub, f"eval-{name}", f"eval {name}", table[name])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--encoder",
        required=True,
        help="exported encoder (RUN/encoder.safetensors), run directory or RUN/checkpoints/*.ckpt",
    )
    add_input_arguments(p)  # --data, --root, --image-size, --allow-input-mismatch: default as trained
    k, t = Default(CONFIG, "EvalConfig", "knn_k"), Default(CONFIG, "EvalConfig", "knn_temperature")
    p.add_argument("--k", type=int, default=k, help="kNN neighbours (default %(default)s, as DINO)")
    p.add_argument("--temperature", type=float, default=t, help="kNN temperature (default %(default)s)")
    p.add_argument("--max-train", type=int, help="use only the first N train images")
    p.add_argument("--max-test", type=int, help="use only the first N test images")
    p.add_argument("--no-baselines", action="store_true", help="skip raw-pixel and random-init rows")


def run(args: argparse.Namespace) -> int:
    from selfsup.cli.encoder_input import load_encoder_eval_data, resolve_encoder_input
    from selfsup.eval.protocol import format_table, standard_evaluation
    from selfsup.runs import load_run

    inp = resolve_encoder_input(args, args.encoder)  # reads and checks the JSON before the weights
    run = load_run(args.encoder)
    data = load_encoder_eval_data(inp, args.max_train, args.max_test)
    rows = standard_evaluation(
        run.encoder,
        data,
        image_size=inp.image_size,
        mean=inp.spec.mean,
        std=inp.spec.std,
        k=args.k,
        temperature=args.temperature,
        linear=args.protocol == "linear",
        baselines=not args.no_baselines,
        name=run.metadata.get("method", "encoder"),
    )
    title = f"{args.protocol} evaluation of {args.encoder} on {inp.data} at {inp.image_size} px {inp.note}"
    print(format_table(rows, title.rstrip(), data.describe()))
    return 0
