"""The verdict rule on constructed results: reproduced / not reproduced / inconclusive (spreads overlap)."""

import math

import pytest

from selfsup.eval.findings.spec import Claim, Comparison, Diff, Finding, Variant
from selfsup.eval.findings.verdict import (
    INCONCLUSIVE,
    NOT_AVAILABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    combine,
    compare,
    judge,
    summarize,
)

HIGH, LOW = summarize([0.80, 0.82, 0.84]), summarize([0.70, 0.71, 0.72])
NEAR = summarize([0.81, 0.77, 0.79])  # 0.79 ± 0.02 reaches 0.81 > HIGH's 0.80 low end: overlap


def test_summarize_is_mean_and_sample_std_of_the_finite_values() -> None:
    s = summarize([1.0, 2.0, 3.0, None, float("nan")])
    assert (s.mean, s.std, s.n) == (2.0, 1.0, 3)  # ddof = 1: sqrt(((1)^2 + 0 + 1^2) / 2)
    assert summarize([0.5]).std == 0.0 and summarize([None]) is None


@pytest.mark.parametrize(
    ("a", "b", "relation", "expected"),
    [
        (HIGH, LOW, "greater", REPRODUCED),
        (LOW, HIGH, "greater", NOT_REPRODUCED),
        (HIGH, NEAR, "greater", INCONCLUSIVE),
        (LOW, HIGH, "less", REPRODUCED),
        (HIGH, LOW, "less", NOT_REPRODUCED),
        (HIGH, NEAR, "no_worse", REPRODUCED),  # a match within the spread is what "no worse" claims
        (HIGH, LOW, "no_worse", REPRODUCED),
        (LOW, HIGH, "no_worse", NOT_REPRODUCED),
    ],
)
def test_compare_uses_one_std_intervals(a, b, relation, expected) -> None:
    verdict, reason = compare(a, b, relation)
    assert verdict == expected and "3 seeds" in reason


def test_overlap_by_a_hair_is_inconclusive_and_separation_by_a_hair_is_not() -> None:
    a, b, c = summarize([1.9, 2.1]), summarize([1.6, 1.8]), summarize([1.7, 1.9])  # std sqrt(0.02) each
    assert a.low > b.high and math.isclose(a.low - b.high, 0.3 - 2 * math.sqrt(0.02))
    assert compare(a, b, "greater")[0] == REPRODUCED
    assert a.low < c.high and compare(a, c, "greater")[0] == INCONCLUSIVE


def test_one_seed_or_a_missing_value_is_inconclusive_whatever_the_means() -> None:
    verdict, reason = compare(summarize([0.9]), summarize([0.1]), "greater")
    assert verdict == INCONCLUSIVE and "no spread" in reason
    assert compare(None, LOW, "greater")[0] == INCONCLUSIVE


def test_combine_needs_all_reproduced_and_any_failure_decides() -> None:
    assert combine([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert combine([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED]) == NOT_REPRODUCED
    assert combine([]) == INCONCLUSIVE


def _finding(**kw) -> Finding:
    f = Finding(
        name="toy",
        title="toy",
        paper="-",
        claim="-",
        experiment="-",
        data="digits",
        epochs=1,
        variants=(Variant("big", "simclr", "x"), Variant("small", "simclr", "x")),
        derived=(
            Diff("gap", "big/finetune", "small/finetune"),
            Diff("gap lin", "big/linear", "small/linear"),
        ),
        claims=(
            Claim("big beats small", (Comparison("big/linear", "small/linear"),)),
            Claim("the gap is larger under fine-tuning", (Comparison("gap", "gap lin"),)),
        ),
        **kw,
    )
    f.check()
    return f


def test_judge_reads_variants_and_per_seed_differences() -> None:
    scores = {
        "big": {s: {"linear": 0.8 + 0.01 * s, "finetune": 0.95 + 0.01 * s} for s in range(3)},
        "small": {s: {"linear": 0.6 + 0.01 * s, "finetune": 0.70 + 0.01 * s} for s in range(3)},
    }
    out = judge(_finding(), scores, seeds=(0, 1, 2))
    assert [c["verdict"] for c in out["claims"]] == [REPRODUCED, REPRODUCED]
    assert out["verdict"] == REPRODUCED
    # per seed: finetune gap 0.25, linear gap 0.2, with zero spread -> separated
    assert out["derived"]["gap"]["values"] == pytest.approx([0.25] * 3)
    scores["small"][1]["linear"] = 0.95  # one seed reverses: the spreads now overlap
    assert judge(_finding(), scores, seeds=(0, 1, 2))["claims"][0]["verdict"] == INCONCLUSIVE


def test_judge_reports_a_failed_run_as_inconclusive_and_an_unavailable_finding_as_such() -> None:
    scores = {"big": {s: {"linear": 0.8} for s in range(3)}, "small": {}}
    out = judge(_finding(), scores, seeds=(0, 1, 2))
    assert (
        out["claims"][0]["verdict"] == INCONCLUSIVE
        and "no value" in out["claims"][0]["comparisons"][0]["reason"]
    )
    assert judge(_finding(available=False), {}, (0,))["verdict"] == NOT_AVAILABLE


def test_spec_rejects_references_to_nothing() -> None:
    with pytest.raises(ValueError, match="reference 'medium/linear' names no variant"):
        Finding(
            name="bad",
            title="",
            paper="",
            claim="",
            experiment="",
            data="digits",
            epochs=1,
            variants=(Variant("big", "simclr", "x"),),
            claims=(Claim("", (Comparison("big/linear", "medium/linear"),)),),
        ).check()
    with pytest.raises(ValueError, match="relation must be one of"):
        Comparison("a/x", "b/x", "bigger")
