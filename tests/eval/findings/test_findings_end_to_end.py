"""``selfsup findings`` end to end: real pretraining subprocesses, every evaluation, reuse on a re-run."""

import json
import re
from pathlib import Path

import pytest

from selfsup.cli.main import main
from selfsup.eval.findings.runner import Scale, run_findings
from selfsup.eval.findings.scoring import EvalSettings
from selfsup.eval.findings.spec import Claim, Comparison, Diff, Finding, Plot, Variant
from selfsup.eval.findings.verdict import VERDICTS

SIMCLR = """\
backbone: resnet_small
backbone_kwargs: {width: 4, depths: [1, 1, 1, 1]}
method: {name: simclr, proj_hidden_dim: 16, proj_out_dim: 8}
data: {name: digits, image_size: 16}
train: {batch_size: 64, precision: 32-true, time_budget_minutes: 5}
optim: {warmup_epochs: 0.1}
"""
DINO = """\
backbone: resnet_small
backbone_kwargs: {width: 4, depths: [1, 1, 1, 1]}
method: {name: dino, out_dim: 32, hidden_dim: 16, bottleneck_dim: 8, n_local_crops: 2, local_size: 8}
data: {name: digits, image_size: 16}
train: {batch_size: 64, precision: 32-true, max_steps: 1000}
optim: {name: adamw, lr: 1.0e-3}
"""
EVERY = ("frozen", "head", "random_ref", "finetune", "label_efficiency")
TINY = Finding(
    name="tiny",
    title="tiny",
    paper="-",
    claim="h beats z; pretraining beats random init",
    experiment="-",
    data="digits",
    epochs=1.0,
    variants=(Variant("a", "simclr", "simclr_tiny", (), EVERY), Variant("d", "dino", "dino_tiny", (), ("frozen", "monitors"))),
    derived=(Diff("gain", "a/le_finetune_1", "a/scratch_finetune_1"),),
    claims=(Claim("h > z", (Comparison("a/linear", "a/linear_z"),)), Claim("gain", (Comparison("gain", "a/knn"),))),
    plots=(Plot("t", "x", ("a", "d"), (("kNN", ("a/knn", "d/knn")),)),),
)  # fmt: skip


@pytest.mark.slow
def test_runs_every_evaluation_on_real_runs_and_reuses_them(tmp_path: Path, capsys) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "simclr_tiny.yaml").write_text(SIMCLR)
    (configs / "dino_tiny.yaml").write_text(DINO)
    out = tmp_path / "out"
    scale = Scale((0, 1), 1.0, False, EvalSettings(finetune_steps=3))
    result = run_findings([TINY], out, scale, configs_dir=configs)
    first = capsys.readouterr().out
    estimate = r"findings: about \d+ min of pretraining left for 3 run\(s\) at this machine's pace so far"
    assert re.search(estimate + r" \(2 of a kind not yet timed, guessed from the mean\)\n", first), first
    assert (
        " of pretraining left for 1 run(s) at this machine's pace so far\n" in first
    )  # both kinds timed by then
    (finding,) = result["findings"]
    variants = {v["name"]: v for v in finding["variants"]}
    for name in ("knn", "linear_z", "random_linear", "finetune", "finetune_val", "le_finetune_1",
                 "scratch_finetune_100", "pseudo_label_10", "peak_memory_mb"):  # fmt: skip
        assert variants["a"]["metrics"][name]["n"] == 2, name
    assert (
        variants["d"]["metrics"]["teacher_entropy"]["n"] == 2
        and "kl_teacher_student" in variants["d"]["metrics"]
    )
    assert all(r["status"] == "ok" for v in variants.values() for r in v["runs"].values())
    assert finding["verdict"] in VERDICTS and finding["derived"]["gain"]["stat"]["n"] == 2
    assert all(c["reason"] != "no value" for cl in finding["claims"] for c in cl["comparisons"])
    # Each run trained once with the finding's epochs (no time budget, no step cap) and its seed.
    run_dirs = sorted((out / "runs").glob("*-s?"))
    assert len(run_dirs) == 4
    cfg = (run_dirs[0] / "config.yaml").read_text()
    assert "time_budget_minutes: null" in cfg and "max_steps: null" in cfg and "epochs: 1.0" in cfg
    on_disk = json.loads((out / "findings.json").read_text())
    assert on_disk["findings"][0]["verdict"] == finding["verdict"]
    page = (out / "findings.html").read_text()
    assert '<svg class="chart"' in page and "tiny" in page
    stamps = {d: (d / "encoder.safetensors").stat().st_mtime_ns for d in run_dirs}
    capsys.readouterr()
    again = run_findings([TINY], out, scale, configs_dir=configs)  # reuses runs and cached scores
    assert "reusing" in capsys.readouterr().out
    assert {d: (d / "encoder.safetensors").stat().st_mtime_ns for d in run_dirs} == stamps
    assert again["findings"][0]["variants"][0]["metrics"] == finding["variants"][0]["metrics"]


@pytest.mark.slow
def test_cli_quick_runs_a_finding_and_prints_its_verdict(tmp_path: Path, capsys) -> None:
    out = tmp_path / "f"
    configs = Path(__file__).resolve().parents[3] / "configs"
    assert (
        main(["findings", "projection-head", "--quick", "--out", str(out), "--configs-dir", str(configs)])
        == 0
    )
    text = capsys.readouterr().out
    assert "[1/1] SimCLR b256 (seed 0): pretraining simclr" in text
    assert "4. Projection head" in text and "inconclusive" in text  # one seed: no spread
    assert (out / "findings.html").is_file() and (out / "findings.json").is_file()


@pytest.mark.slow
def test_cli_quick_scores_attention_masks_of_dino_and_supervised_vits(tmp_path: Path, capsys) -> None:
    out = tmp_path / "f"
    assert main(["findings", "attention", "--quick", "--out", str(out)]) == 0  # the shipped configs
    assert "6. Attention" in capsys.readouterr().out
    (finding,) = json.loads((out / "findings.json").read_text())["findings"]
    for variant in finding["variants"]:
        metrics = variant["metrics"]
        for name in ("attention_best", "attention_mean", "random_attention_best", "random_attention_mean"):
            assert 0.0 < metrics[name]["mean"] < 1.0, (variant["name"], name)
        assert metrics["attention_best"]["mean"] >= metrics["attention_mean"]["mean"]  # best head >= mean
    assert all(c["reason"] != "no value" for cl in finding["claims"] for c in cl["comparisons"])


def test_list_describes_every_finding(capsys) -> None:
    assert main(["findings", "--list"]) == 0
    text = capsys.readouterr().out
    for name in ("mae-masking", "simclr-augmentations", "negatives", "projection-head", "dino-stability",
                 "attention", "pretext-label-efficiency", "linear-vs-finetune"):  # fmt: skip
        assert name in text
    assert "claim:" in text and "paper:" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["findings", "nope"], "unknown finding(s) ['nope']; choose from"),
        (["findings", "4", "--seeds", "0"], "--seeds must be >= 1"),
        (["findings", "4", "--budget", "-1"], "--budget must be a positive multiplier"),
        (["findings", "4", "--jobs", "0"], "--jobs must be >= 1, got 0"),
    ],
)
def test_bad_input_is_one_line_naming_the_input(tmp_path: Path, capsys, args, message) -> None:
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o" / "runs").exists() or not any((tmp_path / "o" / "runs").iterdir())
