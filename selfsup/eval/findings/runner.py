"""Run the findings: plan the runs, pretrain (or reuse) each in its own process, evaluate, judge, write.

``run_findings(findings, out, scale)``:

1. **plan**: every (variant, seed) becomes a run identified by what it trains (method, config,
   overrides, epochs, dataset, seed); variants declared identically in several findings share one
   run and the union of their evaluations;
2. **pretrain** each missing run with ``selfsup pretrain`` in a subprocess
   (``selfsup.eval.pretrain_runs``, as ``selfsup compare``; ``--jobs`` of them at a time, sharing
   the cores, ``pretraining.pretrain_all``): a crash is recorded for that run and the others go on;
   a finished run of the same settings is reused, a half-finished one continues from its last
   checkpoint, so an interrupted command loses at most one checkpoint interval of each run in flight;
3. **evaluate** each run (``scoring.RunEvaluator``, cached in the run directory) once all are
   trained (so the pretraining processes are forked from a small parent: see ``run_findings``);
4. **judge** every finding (``verdict.judge``) and write ``OUT/findings.json`` and the
   self-contained page ``OUT/findings.html`` (``selfsup.viz.findings_page``) after every
   evaluation, so the page shows what is done so far; findings an earlier command wrote there stay
   on the page while the settings of their evaluations are unchanged (``with_earlier_findings``).

Runs live in ``OUT/runs/<method>-<key>-s<seed>/`` with ``spec.json`` saying which findings and
variants they serve. Every run overrides the config's time budget and step cap with the
finding's epochs x ``--budget``, so runs are equal-epoch by construction and machine-independent.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from selfsup.configs import CONFIG_DIR
from selfsup.eval.findings.pretraining import PlannedRun, pretrain_all
from selfsup.eval.findings.scoring import EvalSettings, RunEvaluator
from selfsup.eval.findings.spec import Finding, Variant
from selfsup.eval.findings.verdict import judge, summarize
from selfsup.eval.pretrain_runs import config_fingerprint
from selfsup.train.atomic_io import atomic_write

QUICK_DATA = "digits"  # 1,433 real train images, ships with scikit-learn: the pipeline in minutes
QUICK_EPOCHS = 0.5  # at least one step per run (digits: 1,433 images, batch <= 1,024)
QUICK_IMAGE_SIZE = 28  # the Fashion-MNIST configs' size, so every shipped config runs on digits


@dataclass(frozen=True)
class Scale:
    """How big a findings run is.

    seeds:    one run per seed per variant (3 for error bars; ``--quick``: 1).
    budget:   multiplier of every finding's declared epochs (``--budget 0.5`` halves every run).
    quick:    digits instead of each finding's data, half an epoch per run, tiny fine-tunes: tests the
              pipeline end to end in minutes; its verdicts are inconclusive by construction (1 seed).
    eval:     evaluation settings (eval subsets, fine-tune step cap, label fractions).
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    budget: float = 1.0
    quick: bool = False
    eval: EvalSettings = field(default_factory=lambda: EvalSettings(max_train=20000))

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds must be a positive count (distinct seeds), got {self.seeds}")
        if not self.budget > 0:
            raise ValueError(
                f"--budget must be a positive multiplier of the declared epochs, got {self.budget}"
            )

    @classmethod
    def make(cls, seeds: int | None, budget: float | None, quick: bool) -> Scale:
        """``--seeds N --budget X [--quick]`` (quick: 1 seed, small evaluations, unless given)."""
        if seeds is not None and seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {seeds}")
        n = seeds if seeds is not None else (1 if quick else 3)
        settings = EvalSettings(finetune_steps=20) if quick else EvalSettings(max_train=20000)
        return cls(tuple(range(n)), 1.0 if budget is None else budget, quick, settings)

    def data(self, finding: Finding) -> str:
        return QUICK_DATA if self.quick else finding.data

    def epochs(self, finding: Finding) -> float:
        return QUICK_EPOCHS * self.budget if self.quick else finding.epochs * self.budget


def _config_path(variant: Variant, configs_dir: Path, out: Path) -> Path:
    path = configs_dir / f"{variant.config}.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"finding config {path} is missing; pass --configs-dir (the repository's configs/)"
        )
    if variant.backbone_from is None:
        return path
    donor = configs_dir / f"{variant.backbone_from}.yaml"
    tree, other = yaml.safe_load(path.read_text()), yaml.safe_load(donor.read_text())
    tree["backbone"], tree["backbone_kwargs"] = other["backbone"], other.get("backbone_kwargs", {})
    composed = out / "configs" / f"{variant.config}+{variant.backbone_from}-backbone.yaml"
    composed.parent.mkdir(parents=True, exist_ok=True)
    composed.write_text(
        f"# {path.name} with the backbone of {donor.name} (selfsup findings)\n" + yaml.safe_dump(tree)
    )
    return composed


def _overrides(finding: Finding, variant: Variant, scale: Scale, seed: int, config: Path) -> list[str]:
    base = [
        f"data.name={scale.data(finding)}",
        "train.time_budget_minutes=null",  # equal epochs, not equal wall-clock
        "train.max_steps=null",
        f"train.epochs={scale.epochs(finding):g}",
        f"train.seed={seed}",
    ]
    rest = [*finding.overrides, *variant.overrides]
    if scale.quick:
        rest = [o for o in rest if not o.startswith(("data.image_size=", "data.max_train_items="))]
        has_size = ((yaml.safe_load(config.read_text()) or {}).get("data") or {}).get("image_size")
        base += [] if has_size else [f"data.image_size={QUICK_IMAGE_SIZE}"]
    return base + rest


def plan_runs(
    findings: Sequence[Finding], scale: Scale, out: Path, configs_dir: Path
) -> dict[str, PlannedRun]:
    """Unique runs keyed by what they train, in the order the findings first need them."""
    runs: dict[str, PlannedRun] = {}
    for f in findings:
        for v in f.variants:
            config = _config_path(v, configs_dir, out)
            fingerprint = config_fingerprint(config)
            for seed in scale.seeds:
                overrides = _overrides(f, v, scale, seed, config)
                ident = json.dumps([v.method, config.name, fingerprint, sorted(overrides)])
                key = f"{v.method}-{hashlib.sha1(ident.encode()).hexdigest()[:10]}-s{seed}"
                run = runs.setdefault(
                    key, PlannedRun(v.method, config, overrides, out / "runs" / key, seed, scale.data(f))
                )
                run.evals += [e for e in v.evals if e not in run.evals]
                run.serves.append((f.name, v.name))
    return runs


def run_findings(
    findings: Sequence[Finding],
    out: str | Path,
    scale: Scale,
    configs_dir: str | Path | None = None,  # None: the shipped configs
    retrain: bool = False,
    log: Callable[[str], None] = print,
    jobs: int = 1,
) -> dict:
    """Pretrain/reuse, evaluate and judge ``findings``; returns (and writes) the findings.json dict.
    ``jobs``: pretraining processes at a time (``pretrain_all``); evaluation runs one run at a time."""
    from selfsup.viz.findings_page import write_findings_page

    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    # Fails on a missing config before training.
    runs = plan_runs(findings, scale, out, Path(configs_dir or CONFIG_DIR))
    log(f"findings: {len(findings)} findings, {len(runs)} runs ({len(scale.seeds)} seed(s)) under {out}")
    evaluator = RunEvaluator(scale.eval, log)
    scores: dict[str, dict[int, dict]] = {}  # run key -> metrics
    started = time.perf_counter()
    labels = {
        key: f"[{i}/{len(runs)}] {', '.join(sorted({v for _, v in run.serves}))} (seed {run.seed})"
        for i, (key, run) in enumerate(runs.items(), 1)
    }
    # All pretraining first, while this process is small: on Linux a child's ru_maxrss starts from
    # the parent's RSS at fork, so a parent grown by evaluation data would mask the runs' CPU peak memory.
    pretrain_all(runs, labels, retrain, jobs, log)
    for key, run in runs.items():
        if run.status != "ok":
            continue
        (run.run_dir / "spec.json").write_text(json.dumps(_spec(run), indent=1))
        t0 = time.perf_counter()
        try:
            scores[key] = evaluator.evaluate(run.run_dir, tuple(run.evals), run.seed, run.data)
        except (RuntimeError, ValueError, OSError) as err:  # one broken run must not lose the others
            run.status = f"evaluation failed: {err}"
        log(f"{labels[key]}: evaluated ({', '.join(run.evals)}) in {time.perf_counter() - t0:.0f} s")
        write_outputs(
            assemble(findings, runs, scores, scale, time.perf_counter() - started), out, write_findings_page
        )
    result = assemble(findings, runs, scores, scale, time.perf_counter() - started)
    write_outputs(result, out, write_findings_page)
    return result


def _spec(run: PlannedRun) -> dict:
    return {"method": run.method, "config": str(run.config), "overrides": run.overrides, "serves": run.serves}


def assemble(
    findings: Sequence[Finding], runs: dict[str, PlannedRun], scores: dict, scale: Scale, seconds: float
) -> dict:
    """The findings.json document: per finding its variants' per-seed metrics, stats and verdicts."""
    by_variant: dict[tuple[str, str], dict[int, tuple[str, PlannedRun]]] = {}
    for key, run in runs.items():
        for f_name, v_name in run.serves:
            by_variant.setdefault((f_name, v_name), {})[run.seed] = (key, run)
    doc_findings = []
    for f in findings:
        per_variant: dict[str, dict[int, dict]] = {}
        variants = []
        for v in f.variants:
            seeds = by_variant.get((f.name, v.name), {})
            per_variant[v.name] = {s: scores[k] for s, (k, _) in seeds.items() if k in scores}
            names = sorted({m for vals in per_variant[v.name].values() for m in vals})
            metrics = {}
            for m in names:
                values = [per_variant[v.name].get(s, {}).get(m) for s in scale.seeds]
                stat = summarize(values)
                metrics[m] = {"values": values, **({} if stat is None else asdict(stat))}
            runs_json = {str(s): {"dir": str(r.run_dir), "status": r.status} for s, (_, r) in seeds.items()}
            variants.append({**asdict(v), "runs": runs_json, "metrics": metrics})
        judged = judge(f, per_variant, scale.seeds)
        doc_findings.append(
            {
                "name": f.name,
                "title": f.title,
                "paper": f.paper,
                "claim": f.claim,
                "experiment": f.experiment,
                "data": scale.data(f),
                "epochs": scale.epochs(f) if f.available else None,
                "overrides": list(f.overrides),
                "available": f.available,
                "reason": f.reason,
                **judged,
                "variants": variants,
                "plots": [asdict(p) for p in f.plots],
            }
        )
    return {
        "scale": {
            "quick": scale.quick,
            "seeds": list(scale.seeds),
            "budget": scale.budget,
            "eval": asdict(scale.eval),
        },
        "seconds": round(seconds, 1),
        "splits": "verdicts and plots use the test split (scored once per run, classifiers fit on train); "
        "every choice inside an evaluation (probe weight decay) is made on the validation split carved "
        "from train (10 %, stratified, seed 0), whose numbers are shown as *_val",
        "findings": doc_findings,
    }


def _eval_settings(recorded: object) -> EvalSettings | None:
    """The ``EvalSettings`` a findings.json recorded, or None when its fields are not this version's."""
    names = {f.name for f in fields(EvalSettings)}
    if not isinstance(recorded, dict) or set(recorded) != names:
        return None
    return EvalSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items()})


def with_earlier_findings(result: dict, earlier_path: Path) -> dict:
    """``result`` plus the findings of an earlier command's ``findings.json`` that ``result`` does not
    hold, in the catalog's order: findings run one at a time into one folder build one page. An earlier
    finding is kept only when it was run at the same seeds, budget and ``--quick``, and every evaluation
    its variants use has the same settings now (``EvalSettings.key``: a finding that never fine-tunes
    survives a change of the fine-tune recipe). A missing or unreadable file adds nothing."""
    from selfsup.eval.findings.catalog import FINDINGS

    try:
        earlier = json.loads(earlier_path.read_text())
    except (OSError, ValueError):
        return result
    scale = json.loads(json.dumps(result["scale"]))
    then_scale = earlier.get("scale") if isinstance(earlier, dict) else None
    if not isinstance(then_scale, dict) or any(
        then_scale.get(k) != scale[k] for k in ("quick", "seeds", "budget")
    ):
        return result
    then, now = _eval_settings(then_scale.get("eval")), _eval_settings(scale["eval"])
    if then is None or now is None:
        return result

    names = {f["name"] for f in result["findings"]}

    def comparable(finding: object) -> bool:
        if not isinstance(finding, dict) or finding.get("name") in names:
            return False
        kinds = {k for v in finding.get("variants", []) for k in v.get("evals", ())}
        return all(then.key(k) == now.key(k) for k in kinds)

    kept = [f for f in earlier.get("findings", []) if comparable(f)]
    order = {f.name: i for i, f in enumerate(FINDINGS)}
    merged = sorted(result["findings"] + kept, key=lambda f: order.get(f["name"], len(order)))
    return {**result, "findings": merged}


def write_outputs(result: dict, out: Path, write_page: Callable[[dict, Path], Path]) -> None:
    """``OUT/findings.json`` and ``OUT/findings.html`` (with the earlier findings kept there, see
    ``with_earlier_findings``), each replaced atomically; commands sharing ``OUT`` never share a
    temporary file."""
    page = with_earlier_findings(result, out / "findings.json")
    atomic_write(out / "findings.json", lambda f: f.write(json.dumps(page, indent=1).encode()))
    write_page(page, out / "findings.html")
