"""``selfsup eval quality --encoder PATH --data NAME``: label-free quality signals of an encoder.

RankMe, uniformity and embedding std of the test-set embeddings (``selfsup.monitors.quality``; no
labels used), for the encoder and a random-init copy. Written to ``RUN/quality.json`` when the
encoder sits in a run directory (``--out DIR`` overrides), where ``selfsup report`` shows them.
"""

from __future__ import annotations

import argparse

from selfsup.cli.common import SubCommand
from selfsup.cli.encoder_input import add_input_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--encoder",
        required=True,
        help="exported encoder (RUN/encoder.safetensors), run directory or RUN/checkpoints/*.ckpt",
    )
    add_input_arguments(p)  # --data, --root, --image-size, --allow-input-mismatch: default as trained
    p.add_argument("--max-items", type=int, default=5000, help="test images embedded (default %(default)s)")
    p.add_argument("--out", help="output folder (default: the encoder's run directory)")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from selfsup.cli.encoder_input import fit_channels, resolve_encoder_input
    from selfsup.data import create_dataset, dataset_to_tensors
    from selfsup.eval.baselines import random_init_copy
    from selfsup.eval.features import extract_features
    from selfsup.monitors.quality import quality_signals
    from selfsup.runs import load_run

    inp = resolve_encoder_input(args, args.encoder)
    encoder, size = load_run(args.encoder).encoder, inp.image_size
    images, _ = dataset_to_tensors(
        create_dataset(inp.data, "test", root=inp.root, image_size=size), args.max_items
    )
    images = fit_channels(inp, images)
    kw = dict(image_size=size, mean=inp.spec.mean, std=inp.spec.std)
    result = {
        "encoder": quality_signals(extract_features(encoder, images, **kw)),
        "random init": quality_signals(extract_features(random_init_copy(encoder), images, **kw)),
        "items": int(images.shape[0]),
        "data": inp.data,
    }
    out = Path(args.out) if args.out else Path(args.encoder).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(result, indent=2))
    for name in ("encoder", "random init"):
        print(f"{name:>12}: " + ", ".join(f"{k} {v:.4f}" for k, v in result[name].items()))
    print(f"written: {out / 'quality.json'}")
    return 0


COMMAND = SubCommand("label-free quality signals (RankMe, uniformity, std)", add_arguments, run)
