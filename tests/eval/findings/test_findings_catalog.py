"""The catalog: every finding is well formed, every run it plans loads strictly, shared runs are shared."""

from pathlib import Path

import pytest

from selfsup.eval.findings.catalog import FINDINGS, select
from selfsup.eval.findings.runner import QUICK_DATA, Scale, plan_runs
from selfsup.eval.findings.spec import EVALS
from selfsup.train.config_loader import load_run_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
# Metrics each evaluation writes (selfsup.eval.findings.scoring); references must read one of these.
PRODUCED = {
    "frozen": {"knn", "linear", "rankme", "uniformity"},
    "head": {"knn_z", "linear_z"},
    "random_ref": {"random_knn", "random_linear"},
    "finetune": {"finetune"},
    "label_efficiency": {
        f"{k}_{p}"
        for k in ("le_linear", "le_finetune", "scratch_linear", "scratch_finetune", "pseudo_label")
        for p in ("1", "10", "100")
    },  # fmt: skip
    "monitors": {"teacher_entropy", "teacher_marginal_entropy", "kl_teacher_student", "collapse"},
    "attention": {"attention_best", "attention_mean", "random_attention_best", "random_attention_mean"},
}
ALWAYS = {"peak_memory_mb", "images_per_second", "steps"}


def test_the_eight_findings_of_the_issue_in_order_with_unique_names() -> None:
    assert [f.title.split(".")[0] for f in FINDINGS] == [str(i) for i in range(1, 9)]
    assert len({f.name for f in FINDINGS}) == 8
    assert all(f.available for f in FINDINGS)
    assert set(PRODUCED) == set(EVALS)


def test_select_by_name_or_number_and_bad_names_list_the_choices() -> None:
    assert select(["1", "negatives", "1"]) == (FINDINGS[0], FINDINGS[2])
    assert select([]) == FINDINGS
    with pytest.raises(ValueError, match=r"unknown finding\(s\) \['mea'\]; choose from \['mae-masking'"):
        select(["mea"])


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.name)
def test_every_reference_reads_a_metric_its_variant_is_evaluated_for(finding) -> None:
    variants = {v.name: v for v in finding.variants}
    diffs = {d.name: (d.a, d.b) for d in finding.derived}
    refs = [r for c in finding.claims for cmp in c.comparisons for r in (cmp.a, cmp.b)]
    refs += [r for p in finding.plots for _, rs in p.series for r in rs if r is not None]
    refs += [r for a, b in diffs.values() for r in (a, b)]
    for ref in refs:
        if "/" not in ref:
            assert ref in diffs
            continue
        name, metric = ref.split("/", 1)
        allowed = ALWAYS | set().union(*(PRODUCED[e] for e in variants[name].evals))
        assert metric in allowed, f"{finding.name}: {ref} is not produced by evals {variants[name].evals}"


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_every_planned_run_loads_strictly_and_shared_variants_train_once(tmp_path: Path, quick: bool) -> None:
    scale = Scale.make(seeds=2, budget=0.5, quick=quick)
    runs = plan_runs(FINDINGS, scale, tmp_path, CONFIGS)
    for run in runs.values():
        cfg = load_run_config(run.config, run.overrides, method=run.method)  # unknown keys would raise
        assert cfg.train.time_budget_minutes is None and cfg.train.max_steps is None
        assert cfg.data.name == (QUICK_DATA if quick else run.data)
        if quick:
            assert cfg.train.epochs == 0.25 and (cfg.data.image_size or 0) >= 28
    served = {v: run for run in runs.values() if run.seed == 0 for v in run.serves}
    # SimCLR at batch 256 serves findings 3, 4 and 7 with the union of their evaluations.
    simclr = served[("projection-head", "SimCLR b256")]
    assert (
        served[("negatives", "SimCLR b256")] is simclr is served[("pretext-label-efficiency", "SimCLR b256")]
    )
    assert set(simclr.evals) == {"frozen", "head", "label_efficiency"}
    assert served[("mae-masking", "mask 0.75")] is served[("linear-vs-finetune", "mask 0.75")]
    # On digits (quick) finding 6's DINO loses its stamps size and is finding 5's shipped DINO run.
    shared_dino = served[("attention", "DINO")] is served[("dino-stability", "both, EMA")]
    assert shared_dino == quick
    n_variants = len({(f.name, v.name) for f in FINDINGS for v in f.variants})
    # three declared twice (b256 twice more, mask 0.75 once more), and the quick DINO
    assert len(runs) == 2 * (n_variants - 3 - shared_dino)


def test_moco_v3_takes_the_mae_vit_so_the_comparison_is_same_architecture(tmp_path: Path) -> None:
    runs = plan_runs(select(["8"]), Scale.make(1, None, False), tmp_path, CONFIGS)
    cfgs = {r.method: load_run_config(r.config, r.overrides, method=r.method) for r in runs.values()}
    assert (
        cfgs["mocov3"].backbone == cfgs["mae"].backbone
        and cfgs["mocov3"].backbone_kwargs == cfgs["mae"].backbone_kwargs
    )
