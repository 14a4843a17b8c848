"""One trial in its own process: ``python peers_trial.py '<json spec>'`` prints one JSON line.

A trial builds one pipeline (selfsup's or lightly's) for one method and precision, then either

- ``kind: "speed"``: runs ``warmup`` untimed steps and ``steps`` timed ones, each step including
  its loader's ``next()`` (lightly's per-image PIL transforms in the DataLoader are part of its
  pipeline, selfsup's batched views are part of its step), and reports images/s (source images),
  the median step time and the peak RSS of the process (``ru_maxrss``) and of its loader workers;
- ``kind: "quality"``: trains for ``budget_s`` seconds of wall clock from the first loader call,
  schedules sized to the steps this pipeline fits in the budget (3 timed steps, then
  ``selfsup.train.config.derive`` with that cap, as ``train.time_budget_minutes`` does), then
  scores the encoder with selfsup's evaluation (kNN and linear probe, validation and test splits).

Own process per trial, so peak memory, allocator settings and thread pools are the trial's own.
"""

from __future__ import annotations

import json
import math
import resource
import statistics
import sys
import time
from collections.abc import Iterator

import torch

BUDGET_MARGIN = 0.95  # share of the remaining budget planned as steps (the rest absorbs step noise)


def load_config(spec: dict):
    from selfsup.train.config_loader import load_run_config

    return load_run_config(spec["config"], spec.get("overrides", []), method=spec["method"])


def normalization(cfg, channels: int) -> tuple[list[float], list[float]]:
    """The per-channel (mean, std) selfsup's method normalizes its views with (evaluation uses it too)."""
    from selfsup.views.ops import channel_stats

    m = cfg.method
    declared = m if cfg.method_name == "mae" else m.recipe if cfg.method_name == "moco" else m.views
    mean, std = channel_stats(declared.mean, declared.std, channels)
    return list(mean), list(std)


def batches(loader) -> Iterator:
    """The loader's batches, epoch after epoch."""
    while True:
        yield from loader


def default_precision(cfg, dataset, channels: int, size: int) -> str:
    """What ``train.precision`` (``auto``) resolves to for this run on this machine, decided as
    ``selfsup pretrain`` decides it: on a native-bf16 CPU the faster of fp32 / bf16 for this step, timed
    by the trainer's own ``time_precisions`` (or read from the cache a run of it left); else by the
    CPU's flags."""
    from selfsup.train.precision import MEASURED, measured_precision, measures_precision, resolve_precision

    if not measures_precision(cfg.train.precision, "cpu"):
        return resolve_precision(cfg.train.precision, "cpu")
    from selfsup.train.build import build_method
    from selfsup.train.calibrate import time_precisions
    from selfsup.train.config import derive
    from selfsup.train.pretrain import step_signature

    def time_steps() -> dict[str, float]:
        method = build_method(cfg, channels, size)
        return time_precisions(method, dataset, cfg, derive(cfg, len(dataset)), MEASURED)

    choice, note = measured_precision(step_signature(cfg, channels, size), time_steps)
    print(f"[peers] {note}", file=sys.stderr)
    return choice


def build(spec: dict, cfg, dataset, timer=None):
    """``(step(batch, i, total, warmup), loader, encoder, mean, std)`` for the spec's pipeline; ``timer``
    (a ``PhaseTimer``) is charged with the step's phases."""
    if spec.get("workers") is None:  # the config's loader workers (selfsup's default: data.num_workers)
        spec["workers"] = cfg.data.num_workers
    channels, size = dataset.channels, cfg.data.image_size or dataset.image_size[0]
    fp32 = spec["precision"] == "fp32"
    precision = "32-true" if fp32 else default_precision(cfg, dataset, channels, size)
    spec["resolved_precision"] = precision
    bf16 = precision.startswith("bf16")
    mean, std = normalization(cfg, channels)
    torch.manual_seed(cfg.train.seed)  # the same backbone weights in both pipelines
    if spec["pipeline"] == "selfsup":
        from peers_selfsup import SelfsupPipeline

        pipe = SelfsupPipeline(cfg, dataset, channels, size, bf16, timer)
        return pipe.step, pipe.loader(spec["workers"]), pipe.encoder, mean, std

    from peers_lightly import PIPELINES, PILDataset, Schedule, views_of

    from selfsup.backbones import create_backbone
    from selfsup.data import dataset_to_tensors

    backbone = create_backbone(cfg.backbone, in_chans=channels, image_size=size, **cfg.backbone_kwargs)
    pipe = PIPELINES[cfg.method_name](cfg, backbone, mean, std)
    pipe.build_optimizer()
    images, labels = dataset_to_tensors(dataset)
    loader = torch.utils.data.DataLoader(
        PILDataset(images, labels, pipe.transform()), batch_size=cfg.train.batch_size, shuffle=True,
        drop_last=True, num_workers=spec["workers"],
    )  # fmt: skip
    from selfsup.train.config import derive

    derived = derive(cfg, len(dataset))

    def step(batch, i: int, total: int, warmup: int) -> torch.Tensor:
        sched = Schedule(
            total, min(warmup, total), derived.peak_lr, cfg.optim.min_lr, derived.steps_per_epoch
        )
        return pipe.step(views_of(batch), i, sched, bf16, timer)

    return step, loader, pipe.encoder, mean, std


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB


def run_speed(spec: dict) -> dict:
    """Images/s, median step, peak RSS, and ``phase_ms``: ms per timed step spent in the loader's
    ``next()`` and in each phase of the step (``selfsup.train.phase_timer``; on the CPU timing them
    costs two clock reads per phase, so the timed steps are the profiled ones)."""
    from selfsup.data import create_dataset
    from selfsup.train.phase_timer import PhaseTimer

    cfg = load_config(spec)
    dataset = create_dataset(cfg.data.name, "train", root=cfg.data.root, image_size=cfg.data.image_size)
    timer = PhaseTimer()
    step, loader, _, _, _ = build(spec, cfg, dataset, timer)
    warmup, steps = spec["warmup"], spec["steps"]
    total = warmup + steps
    it = batches(loader)
    for i in range(warmup):
        loss = step(next(it), i, total, 0)
    timer.reset()
    times = []
    start = time.perf_counter()
    for i in range(warmup, total):
        t = time.perf_counter()
        with timer("loader"):
            batch = next(it)
        loss = step(batch, i, total, 0)
        times.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    del it, loader  # workers exit and are reaped: their peak RSS shows in RUSAGE_CHILDREN
    b = cfg.train.batch_size
    phase_ms = timer.per_step_ms(steps)
    return {
        **spec,
        "batch_size": b,
        "images_per_second": steps * b / elapsed,
        "step_ms": 1000 * statistics.median(times),
        "peak_rss_mb": peak_rss_mb(resource.RUSAGE_SELF),
        "worker_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN) if spec["workers"] else 0.0,
        "final_loss": float(loss),
        "threads": torch.get_num_threads(),
        "phase_ms": {"loader": phase_ms.pop("loader"), **phase_ms},
    }


def run_quality(spec: dict) -> dict:
    from selfsup.data import create_dataset
    from selfsup.eval.protocol import evaluate_encoder_row, load_eval_data
    from selfsup.train.config import derive

    cfg = load_config(spec)
    dataset = create_dataset(cfg.data.name, "train", root=cfg.data.root, image_size=cfg.data.image_size)
    step, loader, encoder, mean, std = build(spec, cfg, dataset)
    planned = derive(cfg, len(dataset))
    start = time.perf_counter()
    deadline = start + spec["budget_s"]
    it = batches(loader)
    calib, total, warmup = 3, planned.total_steps, planned.warmup_steps
    done, loss = 0, float("nan")
    t_calib = None
    while done < total and time.perf_counter() < deadline:
        if done == 1:
            t_calib = time.perf_counter()  # the first step pays for worker start-up and allocation
        loss = float(step(next(it), done, total, warmup))
        done += 1
        if done == calib + 1 and t_calib is not None:
            step_s = (time.perf_counter() - t_calib) / calib
            fit = done + int(max(0.0, deadline - time.perf_counter()) * BUDGET_MARGIN / step_s)
            capped = derive(cfg, len(dataset), step_cap=max(fit, done + 1))
            total, warmup = capped.total_steps, capped.warmup_steps
    train_s = time.perf_counter() - start
    del it, loader
    data = load_eval_data(
        cfg.data.name,
        cfg.data.root,
        cfg.data.image_size,
        spec.get("eval_max_train"),
        spec.get("eval_max_test"),
    )
    size = cfg.data.image_size or dataset.image_size[0]
    row = evaluate_encoder_row(
        spec["pipeline"], encoder.eval(), data, size, mean, std, cfg.eval.knn_k, cfg.eval.knn_temperature,
        linear=spec.get("linear", True),
    )  # fmt: skip
    return {
        **spec,
        "steps_done": done,
        "planned_steps": total,
        "train_seconds": train_s,
        "final_loss": loss if math.isfinite(loss) else None,
        "knn_val": row.knn_val,
        "linear_val": row.linear_val,
        "knn_test": row.knn,
        "linear_test": row.linear,
        "eval_note": data.describe(),
    }


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    result = run_speed(spec) if spec["kind"] == "speed" else run_quality(spec)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
