"""Findings run one at a time into one folder build one page (``runner.write_outputs``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from selfsup.eval.findings.runner import with_earlier_findings, write_outputs
from selfsup.eval.findings.scoring import EvalSettings

FULL_RUN = EvalSettings(max_train=20000)


def scale(settings: EvalSettings = FULL_RUN, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    return {"quick": False, "seeds": list(seeds), "budget": 1.0, "eval": dataclasses.asdict(settings)}


def finding(name: str, evals: tuple[str, ...] = ("frozen",), verdict: str = "reproduced") -> dict:
    return {"name": name, "verdict": verdict, "variants": [{"name": "v", "evals": list(evals)}]}


def doc(*findings: dict, at: dict | None = None) -> dict:
    return {"scale": at or scale(), "seconds": 1.0, "findings": list(findings)}


def written(result: dict, out: Path) -> dict:
    pages: list[dict] = []
    write_outputs(result, out, lambda page, path: pages.append(page) or path)
    on_disk = json.loads((out / "findings.json").read_text())
    assert on_disk == json.loads(json.dumps(pages[0]))  # the page and the JSON show the same findings
    return on_disk


def test_a_later_command_keeps_the_findings_it_did_not_run_in_the_catalog_order(tmp_path: Path) -> None:
    written(doc(finding("linear-vs-finetune"), finding("negatives")), tmp_path)
    page = written(doc(finding("mae-masking"), finding("negatives", verdict="inconclusive")), tmp_path)
    names = [f["name"] for f in page["findings"]]
    assert names == ["mae-masking", "negatives", "linear-vs-finetune"]  # findings 1, 3, 8
    assert {f["name"]: f["verdict"] for f in page["findings"]}["negatives"] == "inconclusive"  # the newer


def test_a_new_finetune_recipe_drops_the_findings_that_finetune_and_keeps_the_others(tmp_path: Path) -> None:
    before = scale(EvalSettings(max_train=20000, finetune_steps=300, finetune_crop_scale=(0.08, 1.0)))
    earlier = tmp_path / "findings.json"
    earlier.write_text(
        json.dumps(doc(finding("negatives"), finding("mae-masking", ("frozen", "finetune")), at=before))
    )
    kept = with_earlier_findings(doc(finding("projection-head", ("frozen", "head"))), earlier)
    assert [f["name"] for f in kept["findings"]] == ["negatives", "projection-head"]


def test_other_seeds_an_older_record_or_an_unreadable_file_add_nothing(tmp_path: Path) -> None:
    earlier = tmp_path / "findings.json"
    now = doc(finding("mae-masking"))
    earlier.write_text(json.dumps(doc(finding("negatives"), at=scale(seeds=(0,)))))
    assert with_earlier_findings(now, earlier) == now
    older = scale()
    del older["eval"]["finetune_crop_scale"]  # written before the setting existed: its recipe is unknown
    earlier.write_text(json.dumps(doc(finding("negatives"), at=older)))
    assert with_earlier_findings(now, earlier) == now
    earlier.write_text('{"scale": ')  # a file cut short
    assert with_earlier_findings(now, earlier) == now
    assert with_earlier_findings(now, tmp_path / "none.json") == now


def test_no_temporary_file_is_left_for_another_command_to_trip_on(tmp_path: Path) -> None:
    written(doc(finding("mae-masking")), tmp_path)
    written(doc(finding("negatives")), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json"]
