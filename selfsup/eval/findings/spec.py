"""The vocabulary of a finding: variants to train, measurements to read, comparisons to judge.

A **finding** is a published claim about self-supervised learning turned into a small, fixed
experiment. Everything the verdict depends on is declared here before any number exists:

- ``Variant``: one pretraining run (a shipped config plus ``key=value`` overrides), trained once
  per seed, and the evaluations to run on it (``EVALS``);
- a measurement reference ``"<variant>/<metric>"`` (e.g. ``"mask 0.75/linear"``, test top-1 of
  the linear probe) or the name of a ``Diff`` (a per-seed difference of two references);
- ``Comparison``: ``a`` is greater than / less than / no worse than ``b``;
- ``Claim``: one sentence and the comparisons that must all hold for it to be reproduced;
- ``Plot``: which metrics of which variants the page draws (mean and spread over seeds).

Verdicts use **test** metrics only (``knn``, ``linear``, ``finetune``, ...); validation columns
(``*_val``) are shown beside them. No comparison picks among variants by their test numbers: the
variants and the pairs compared are fixed here.
"""

from __future__ import annotations

from dataclasses import dataclass

# What each evaluation adds to a run's scores (all accuracies are top-1 in [0, 1]):
EVALS = {
    "frozen": "knn / linear on test, knn_val / linear_val on validation, rankme, uniformity (encoder h)",
    "head": "knn_z / linear_z (+ _val): the same protocols on the projection head's output z",
    "random_ref": "random_knn / random_linear (+ _val): a random-init copy of the same backbone",
    "finetune": "finetune (test) / finetune_val: end-to-end fine-tuning fit on train minus validation",
    "label_efficiency": "le_<protocol>_<pct>, scratch_<protocol>_<pct>, pseudo_label_<pct> on test",
    "monitors": "teacher_entropy, teacher_marginal_entropy, kl_teacher_student, collapse (last logged)",
    "attention": "attention_best / attention_mean (+ random_ for a random-init copy): 60 %-mass attention "
    "Jaccard with the objects of stamps over real video frames (best head per object; mean over heads)",
}
RELATIONS = ("greater", "less", "no_worse")


@dataclass(frozen=True)
class Variant:
    """One pretraining run of a finding (trained once per seed).

    name:      label on the page and in references (``"<name>/<metric>"``); unique in its finding.
    method:    registered method name (``selfsup list``).
    config:    stem of the shipped config, ``configs/<config>.yaml``.
    overrides: ``key=value`` overrides on top of the config and the finding's own overrides.
    evals:     evaluations to run on the finished run (keys of ``EVALS``); train_stats always.
    """

    name: str
    method: str
    config: str
    overrides: tuple[str, ...] = ()
    evals: tuple[str, ...] = ("frozen",)
    backbone_from: str | None = None  # config stem whose backbone (and kwargs) replaces this config's

    def __post_init__(self) -> None:
        unknown = set(self.evals) - set(EVALS)
        if unknown:
            raise ValueError(f"variant {self.name!r}: unknown evals {sorted(unknown)}; valid: {list(EVALS)}")
        if "/" in self.name:
            raise ValueError(f"variant name {self.name!r} must not contain '/' (it separates the metric)")


@dataclass(frozen=True)
class Diff:
    """A derived measurement, per seed: ``value(a) - value(b)`` (references as in ``Comparison``)."""

    name: str
    a: str
    b: str


@dataclass(frozen=True)
class Comparison:
    """``a`` <relation> ``b``: greater (a > b), less (a < b) or no_worse (a matches or beats b)."""

    a: str
    b: str
    relation: str = "greater"

    def __post_init__(self) -> None:
        if self.relation not in RELATIONS:
            raise ValueError(f"comparison relation must be one of {RELATIONS}, got {self.relation!r}")

    def describe(self) -> str:
        sign = {"greater": ">", "less": "<", "no_worse": "≥ (within spread)"}[self.relation]
        return f"{self.a} {sign} {self.b}"


@dataclass(frozen=True)
class Claim:
    """One sentence of the paper and the comparisons that must all hold for it to be reproduced."""

    text: str
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class Plot:
    """A chart: ``x_ticks`` on the x axis, one line per ``(label, refs)`` with one reference (or None
    for no point) per tick; each point is the mean over seeds with a ± std error bar."""

    title: str
    x_label: str
    x_ticks: tuple[str, ...]
    series: tuple[tuple[str, tuple[str | None, ...]], ...]
    y_label: str = "test top-1 (%)"
    percent: bool = True  # values are fractions, drawn in %
    connect: bool = True  # join the points: only for an ordered x axis (ratios, sizes, fractions)

    def __post_init__(self) -> None:
        for label, refs in self.series:
            if len(refs) != len(self.x_ticks):
                raise ValueError(f"plot {self.title!r}: series {label!r} has {len(refs)} points for "
                                 f"{len(self.x_ticks)} x ticks")  # fmt: skip


def across(variants: tuple[str, ...], metric: str) -> tuple[str, ...]:
    """``("<v>/<metric>" for v in variants)``: one series of a ``Plot`` over variants."""
    return tuple(f"{v}/{metric}" for v in variants)


@dataclass(frozen=True)
class Finding:
    """A claim, its experiment and how to judge it (see the module docstring).

    data:      dataset of the full run ("fashion_mnist" or "stamps"); ``--quick`` uses digits.
    epochs:    pretraining epochs of every variant at ``--budget 1``.
    overrides: applied to every variant (before the variant's own).
    available: False for a finding whose measurement does not exist yet (``reason`` says what).
    """

    name: str
    title: str
    paper: str
    claim: str
    experiment: str
    data: str
    epochs: float
    variants: tuple[Variant, ...] = ()
    claims: tuple[Claim, ...] = ()
    plots: tuple[Plot, ...] = ()
    derived: tuple[Diff, ...] = ()
    overrides: tuple[str, ...] = ()
    metric_note: str = ""
    available: bool = True
    reason: str = ""

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(
            f"finding {self.name!r} has no variant {name!r}; it has {[v.name for v in self.variants]}"
        )

    def check(self) -> None:
        """Every reference names a declared variant or diff; names are unique."""
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"finding {self.name!r}: duplicate variant names {names}")
        diffs = {d.name for d in self.derived}
        refs = [r for d in self.derived for r in (d.a, d.b)]
        refs += [r for c in self.claims for cmp in c.comparisons for r in (cmp.a, cmp.b)]
        refs += [r for p in self.plots for _, series in p.series for r in series if r is not None]
        for ref in refs:
            head = ref.split("/", 1)[0]
            if ("/" in ref and head not in names) or ("/" not in ref and ref not in diffs):
                raise ValueError(f"finding {self.name!r}: reference {ref!r} names no variant or diff")
