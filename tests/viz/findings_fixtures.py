"""A findings.json document with constructed numbers for every finding (no training)."""

from pathlib import Path

from selfsup.eval.findings.catalog import FINDINGS
from selfsup.eval.findings.runner import Scale, assemble, plan_runs

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def synthetic_result(out: Path, seeds: int = 3) -> dict:
    """Plan every run at full scale and give each a deterministic set of plausible metrics."""
    scale = Scale.make(seeds, None, False)
    runs = plan_runs(FINDINGS, scale, out, CONFIGS)
    scores = {}
    for key, run in runs.items():
        run.status = "ok"
        j = sum(run.serves[0][1].encode()) % 7  # the same for every seed of a variant
        base = 0.6 + 0.03 * j + 0.01 * run.seed
        m = {"knn": base, "linear": base + 0.02, "knn_val": base - 0.01, "linear_val": base + 0.01,
             "knn_z": base - 0.1, "linear_z": base - 0.05, "random_knn": 0.5, "random_linear": 0.55 + 0.01 * run.seed,
             "finetune": base + 0.1, "finetune_val": base + 0.09, "peak_memory_mb": 900.0 + 50 * j + 5 * run.seed,
             "teacher_entropy": 2.0 + j % 3 + 0.1 * run.seed, "teacher_marginal_entropy": 5.0 - j % 4 + 0.1 * run.seed, "rankme": 20.0,
             "attention_best": base - 0.2, "attention_mean": base - 0.3, "random_attention_best": 0.3 + 0.01 * run.seed,
             "random_attention_mean": 0.25 + 0.01 * run.seed}  # fmt: skip
        for p, frac in (("1", 0.3), ("10", 0.6), ("100", 1.0)):
            e = 0.6 + 0.3 * frac + 0.01 * run.seed
            m |= {f"le_finetune_{p}": e, f"le_linear_{p}": e - 0.05}
            m |= {f"scratch_finetune_{p}": e - 0.3 + 0.3 * frac, f"pseudo_label_{p}": e - 0.2}
        scores[key] = m
    return assemble(FINDINGS, runs, scores, scale, 123.0)
