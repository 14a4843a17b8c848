"""The verdict rule: reproduced, not reproduced at this scale, or inconclusive (the spreads overlap).

Each measurement is summarized over seeds as mean ± sample standard deviation (``ddof = 1``); the
"spread" of a measurement is the interval ``[mean - std, mean + std]``. For a comparison of ``a``
and ``b``:

- ``greater`` (the paper says a > b): *reproduced* when a's interval lies entirely above b's,
  *not reproduced at this scale* when it lies entirely below, *inconclusive* when they overlap;
- ``less``: the mirror image;
- ``no_worse`` (the paper says a matches b, e.g. "MoCo's queue matches a large batch"): *not
  reproduced* when a's interval lies entirely below b's, otherwise *reproduced*.

With fewer than two seeds there is no spread, so every comparison is *inconclusive* whatever the
means say (``--quick`` runs one seed: it tests the pipeline, not the claims). A claim is
reproduced when all its comparisons are, not reproduced when any is not, and inconclusive
otherwise; a finding combines its claims the same way. Non-overlap of one-std intervals is a
deliberately simple, visible rule (it is what the error bars on the page show), not a
significance test: with 3 seeds it calls a difference of about two standard deviations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced at this scale"
INCONCLUSIVE = "inconclusive"
NOT_AVAILABLE = "not available yet"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_AVAILABLE)
MIN_SEEDS = 2


@dataclass(frozen=True)
class Stat:
    """Mean, sample std (0 for one value) and count of one measurement's per-seed values."""

    mean: float
    std: float
    n: int

    @property
    def low(self) -> float:
        return self.mean - self.std

    @property
    def high(self) -> float:
        return self.mean + self.std


def summarize(values: Sequence[float]) -> Stat | None:
    """``Stat`` of the finite values, or None when there are none (a failed or missing run)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1) if len(vals) > 1 else 0.0
    return Stat(mean, math.sqrt(var), len(vals))


def compare(a: Stat | None, b: Stat | None, relation: str) -> tuple[str, str]:
    """(verdict, one-line reason) of ``a <relation> b``."""
    if a is None or b is None:
        return INCONCLUSIVE, "no value (a run failed or was not evaluated)"
    n = min(a.n, b.n)
    if n < MIN_SEEDS:
        return INCONCLUSIVE, f"{n} seed: no spread to judge by (run --seeds 3)"
    above, below = a.low > b.high, a.high < b.low
    if relation == "greater":
        verdict = REPRODUCED if above else NOT_REPRODUCED if below else INCONCLUSIVE
    elif relation == "less":
        verdict = REPRODUCED if below else NOT_REPRODUCED if above else INCONCLUSIVE
    elif relation == "no_worse":
        verdict = NOT_REPRODUCED if below else REPRODUCED
    else:
        raise ValueError(f"relation must be greater, less or no_worse, got {relation!r}")
    where = "a above b" if above else "a below b" if below else "spreads overlap"
    return verdict, f"{where} ({n} seeds, mean ± std)"


def combine(verdicts: Sequence[str]) -> str:
    """All reproduced -> reproduced; any not reproduced -> not reproduced; else inconclusive."""
    if not verdicts:
        return INCONCLUSIVE
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    if any(v == NOT_REPRODUCED for v in verdicts):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def reference_values(
    ref: str, scores: dict[str, dict[int, dict]], diffs: dict[str, tuple[str, str]], seeds: Sequence[int]
) -> list[float | None]:
    """Per-seed values of ``"<variant>/<metric>"`` or of a derived difference (None where missing)."""
    if "/" not in ref:
        a, b = diffs[ref]
        va, vb = reference_values(a, scores, diffs, seeds), reference_values(b, scores, diffs, seeds)
        return [None if x is None or y is None else x - y for x, y in zip(va, vb, strict=True)]
    variant, metric = ref.split("/", 1)
    per_seed = scores.get(variant, {})
    out: list[float | None] = []
    for s in seeds:
        v = per_seed.get(s, {}).get(metric)
        out.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None)
    return out


def _stat_json(stat: Stat | None) -> dict | None:
    return None if stat is None else {"mean": stat.mean, "std": stat.std, "n": stat.n}


def judge(finding, scores: dict[str, dict[int, dict]], seeds: Sequence[int]) -> dict:
    """Verdicts of every claim of ``finding`` (a ``spec.Finding``) from per-seed ``scores``.

    ``scores[variant][seed][metric]`` are the evaluated numbers. Returns a JSON-ready dict:
    ``{"verdict", "claims": [{"text", "verdict", "comparisons": [{"a", "b", "relation", "verdict",
    "reason", "a_stat", "b_stat"}]}], "derived": {name: stat}}``.
    """
    if not finding.available:
        return {"verdict": NOT_AVAILABLE, "claims": [], "derived": {}}
    diffs = {d.name: (d.a, d.b) for d in finding.derived}
    claims = []
    for claim in finding.claims:
        rows = []
        for c in claim.comparisons:
            sa = summarize(reference_values(c.a, scores, diffs, seeds))
            sb = summarize(reference_values(c.b, scores, diffs, seeds))
            verdict, reason = compare(sa, sb, c.relation)
            rows.append(
                {
                    "a": c.a,
                    "b": c.b,
                    "relation": c.relation,
                    "verdict": verdict,
                    "reason": reason,
                    "a_stat": _stat_json(sa),
                    "b_stat": _stat_json(sb),
                }
            )
        claims.append(
            {"text": claim.text, "verdict": combine([r["verdict"] for r in rows]), "comparisons": rows}
        )
    derived = {
        name: {
            "a": diffs[name][0],
            "b": diffs[name][1],
            "values": reference_values(name, scores, diffs, seeds),
            "stat": _stat_json(summarize(reference_values(name, scores, diffs, seeds))),
        }
        for name in diffs
    }
    return {"verdict": combine([c["verdict"] for c in claims]), "claims": claims, "derived": derived}
