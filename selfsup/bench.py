"""``selfsup bench``: throughput, step time, peak memory and FLOP utilization of one method's step.

The step timed is the trainer's own, ``selfsup.train.step.TrainStep.run``: views generated in batch on
the device from a real batch of the training data (images, labels or caption tokens, indices) ->
``training_step`` -> backward -> ``after_backward`` -> clipping -> optimizer step ->
``after_optimizer_step`` (EMA, queue, center, CLIP's scale clamp), ``train.accumulate`` micro-batches
per step, under the precision the trainer would use. FLOPs are counted once over a whole step with
``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions of every forward and
backward in the step: student and teacher, queue logits, decoders), divided by the batch:
**model FLOPs per source image**. Achieved FLOP/s over the device's peak is the MFU (model FLOP
utilization, Chowdhery et al. 2022, PaLM, App. B). Peaks: on CUDA the dense tensor-core peak of the
precision used for known devices (``--peak-tflops`` overrides); on CPU a measured fp32 matmul.
The data loader is timed separately (``loader_images_per_second``) so a stalled GPU shows up.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass, replace

import torch
from torch.utils.flop_counter import FlopCounterMode

# Dense peak TFLOP/s by (device-name fragment, precision) -- vendor data sheets (SXM parts).
CUDA_PEAK_TFLOPS = {
    ("H200", "bf16"): 989.0,
    ("H100", "bf16"): 989.0,
    ("A100", "bf16"): 312.0,
    ("H200", "fp32"): 67.0,
    ("H100", "fp32"): 67.0,
    ("A100", "fp32"): 19.5,
}


@dataclass
class BenchResult:
    method: str
    backbone: str
    device: str
    precision: str
    batch_size: int
    image_size: int
    step_seconds: float
    images_per_second: float
    gflop_per_image: float
    achieved_tflops: float
    peak_tflops: float | None
    mfu: float | None
    peak_memory_mb: float
    loader_images_per_second: float | None
    channels_last: bool = False
    compiled: bool = False
    phase_ms: dict[str, float] | None = None  # ms per step of each TrainStep phase (--phases)


def cpu_matmul_peak_tflops(n: int = 2048, repeats: int = 4, trials: int = 5) -> float:
    """Measured fp32 matmul TFLOP/s on this CPU: the practical peak for the MFU column.

    The best of ``trials`` timings of ``repeats`` products, after a warm-up, so a moment of
    contention or a clock ramp does not lower the peak (and inflate the MFU).
    """
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 * repeats / best / 1e12


def device_peak_tflops(device: torch.device, precision: str) -> float | None:
    if device.type == "cpu":
        return cpu_matmul_peak_tflops()
    name = torch.cuda.get_device_name(device)
    kind = "bf16" if "bf16" in precision or "16" in precision else "fp32"
    return next((v for (frag, p), v in CUDA_PEAK_TFLOPS.items() if frag in name and p == kind), None)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def time_loader(dataset, batch_size: int, batches: int, num_workers: int) -> float:
    """Images/s of the data loader alone (uint8 batches, no views)."""
    from selfsup.data import collate_batched

    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers, collate_fn=collate_batched,
        drop_last=True, persistent_workers=False,
    )  # fmt: skip
    it = iter(loader)
    next(it)  # worker start-up is not throughput
    start, seen = time.perf_counter(), 0
    for _, batch in zip(range(batches), it, strict=False):
        seen += batch[0].shape[0]
    return seen / max(time.perf_counter() - start, 1e-9)


def profile_table(step, device: torch.device, rows: int, steps: int = 3) -> str:
    """The top ``rows`` operators by self device time (CPU time on a CPU) over ``steps`` calls of ``step``."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def bench(cfg, steps: int = 10, warmup: int = 3, device: str = "auto", peak_tflops: float | None = None,
          loader_batches: int = 20, profile_rows: int = 0, phases: bool = False) -> BenchResult:  # fmt: skip
    """Time ``steps`` training steps of ``cfg``'s method after ``warmup`` steps.

    profile_rows > 0: afterwards profile 3 more steps with ``torch.profiler`` and print the operators
    that took the most device time (self time, so nested calls are not counted twice).
    phases: afterwards time ``steps`` more steps phase by phase (``selfsup.train.phase_timer``: views,
    forward, backward, update) into ``phase_ms``; a separate pass, so ``step_seconds`` is unaffected.
    """
    from selfsup.data import collate_batched, create_dataset
    from selfsup.train.allocator import keep_freed_memory
    from selfsup.train.build import build_method
    from selfsup.train.config import derive
    from selfsup.train.device_options import apply_memory_format, compile_method
    from selfsup.train.optimizers import build_optimizer
    from selfsup.train.phase_timer import PhaseTimer
    from selfsup.train.precision import resolve_precision
    from selfsup.train.step import TrainStep

    keep_freed_memory()
    dev = torch.device(
        "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
    )
    dataset = create_dataset(cfg.data.name, "train", root=cfg.data.root, image_size=cfg.data.image_size)
    size = cfg.data.image_size or dataset.image_size[0]
    if (
        getattr(cfg.method, "num_classes", 0) is None
    ):  # a classifier head sized by the data, as `selfsup pretrain supervised`
        cfg = replace(cfg, method=replace(cfg.method, num_classes=dataset.num_classes))
    b = cfg.train.batch_size
    derived = derive(cfg, len(dataset))  # refuses a dataset smaller than one step's batch
    first = list(range(b))  # a real batch: images, labels (CLIP: caption tokens) and indices
    raw = collate_batched(
        dataset.__getitems__(first) if hasattr(dataset, "__getitems__") else [dataset[i] for i in first]
    )
    raw = tuple(t.to(dev) for t in raw)
    method = build_method(cfg, dataset.channels, size).to(dev)
    channels_last = apply_memory_format(method, cfg.train.channels_last, dev.type)
    precision = resolve_precision(cfg.train.precision, dev.type if dev.type == "cuda" else "cpu")
    derived = replace(derived, total_steps=1 + warmup + steps, precision=precision)
    opt = build_optimizer(method, cfg.optim, derived.peak_lr)
    driver = TrainStep(method, cfg, derived)
    done = 0

    def step() -> None:
        nonlocal done
        driver.run(opt, [raw] * cfg.train.accumulate, min(done, derived.total_steps - 1))
        done += 1

    with FlopCounterMode(display=False) as counter:
        step()
    images = b * cfg.train.accumulate  # source images per optimizer step
    flops_per_image = counter.get_total_flops() / images
    compiled = compile_method(method) if cfg.train.compile else 0  # after counting: FLOPs of eager ops
    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    step_s = (time.perf_counter() - start) / steps
    if profile_rows > 0:
        print(profile_table(step, dev, profile_rows))
    phase_ms = None
    if phases:
        driver.timer = PhaseTimer(dev)
        for _ in range(steps):
            step()
        phase_ms = {k: round(v, 2) for k, v in driver.timer.per_step_ms(steps).items()}
        driver.timer = None
    achieved = flops_per_image * images / step_s / 1e12
    peak = peak_tflops or device_peak_tflops(dev, precision)
    loader = time_loader(dataset, b, loader_batches, cfg.data.num_workers) if loader_batches > 0 else None
    return BenchResult(
        method=cfg.method_name, backbone=cfg.backbone,
        device=torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        precision=precision, batch_size=b, image_size=size, step_seconds=round(step_s, 4),
        images_per_second=round(images / step_s, 1), gflop_per_image=float(f"{flops_per_image / 1e9:.4g}"),
        achieved_tflops=float(f"{achieved:.4g}"), peak_tflops=None if peak is None else round(peak, 3),
        mfu=None if peak is None else float(f"{achieved / peak:.4g}"), peak_memory_mb=round(_peak_memory_mb(dev), 1),
        loader_images_per_second=None if loader is None else round(loader, 1),
        channels_last=channels_last, compiled=compiled > 0, phase_ms=phase_ms,
    )  # fmt: skip


def format_bench(results: list[BenchResult]) -> str:
    head = ("| method | backbone | device | precision | options | batch | px | images/s | step (s) | "
            "GFLOP/img | TFLOP/s | MFU | peak MB | loader img/s |")  # fmt: skip
    lines = [head, "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        mfu = "-" if r.mfu is None else f"{100 * r.mfu:.1f} %"
        loader = "-" if r.loader_images_per_second is None else f"{r.loader_images_per_second:.0f}"
        options = ", ".join(
            n for n, on in (("channels_last", r.channels_last), ("compile", r.compiled)) if on
        )
        lines.append(
            f"| {r.method} | {r.backbone} | {r.device} | {r.precision} | {options or '-'} | {r.batch_size} | "
            f"{r.image_size} | "
            f"{r.images_per_second:.1f} | {r.step_seconds:.3f} | {r.gflop_per_image:.3f} | "
            f"{r.achieved_tflops:.3f} | {mfu} | {r.peak_memory_mb:.0f} | {loader} |"
        )
    timed = [r for r in results if r.phase_ms]
    if timed:
        lines += ["", "Where a step's time goes (ms per step, timed phase by phase in a separate pass):", ""]
        names = list(dict.fromkeys(p for r in timed for p in r.phase_ms))
        lines.append("| method | " + " | ".join(names) + " | sum |")
        lines.append("|---|" + "---:|" * (len(names) + 1))
        for r in timed:
            cells = " | ".join(f"{r.phase_ms[p]:.1f}" if p in r.phase_ms else "-" for p in names)
            lines.append(f"| {r.method} | {cells} | {sum(r.phase_ms.values()):.1f} |")
    return "\n".join(lines)


def as_dict(result: BenchResult) -> dict:
    return asdict(result)
