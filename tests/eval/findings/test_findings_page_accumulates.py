"""Findings run one at a time into one folder build one page (``runner.write_outputs``)."""

from __future__ import annotations

import json
from pathlib import Path

from selfsup.eval.findings.runner import with_earlier_findings, write_outputs

SCALE = {"quick": False, "seeds": [0, 1, 2], "budget": 1.0, "eval": {"finetune_crop_scale": (1.0, 1.0)}}


def doc(*names: str, scale: dict = SCALE, verdict: str = "reproduced") -> dict:
    return {"scale": scale, "seconds": 1.0, "findings": [{"name": n, "verdict": verdict} for n in names]}


def written(result: dict, out: Path) -> dict:
    pages: list[dict] = []
    write_outputs(result, out, lambda page, path: pages.append(page) or path)
    on_disk = json.loads((out / "findings.json").read_text())
    assert on_disk == json.loads(json.dumps(pages[0]))  # the page and the JSON show the same findings
    return on_disk


def test_a_later_command_keeps_the_findings_it_did_not_run_in_the_catalog_order(tmp_path: Path) -> None:
    written(doc("linear-vs-finetune", "negatives"), tmp_path)
    page = written(doc("mae-masking", "negatives", verdict="inconclusive"), tmp_path)
    names = [f["name"] for f in page["findings"]]
    assert names == ["mae-masking", "negatives", "linear-vs-finetune"]  # findings 1, 3, 8
    assert {f["name"]: f["verdict"] for f in page["findings"]}["negatives"] == "inconclusive"  # the newer


def test_another_scale_or_an_unreadable_file_adds_nothing(tmp_path: Path) -> None:
    earlier = tmp_path / "findings.json"
    earlier.write_text(json.dumps(doc("negatives", scale={**SCALE, "seeds": [0]})))
    assert with_earlier_findings(doc("mae-masking"), earlier) == doc("mae-masking")
    earlier.write_text('{"scale": ')  # a file cut short
    assert with_earlier_findings(doc("mae-masking"), earlier) == doc("mae-masking")
    assert with_earlier_findings(doc("mae-masking"), tmp_path / "none.json") == doc("mae-masking")


def test_no_temporary_file_is_left_for_another_command_to_trip_on(tmp_path: Path) -> None:
    written(doc("mae-masking"), tmp_path)
    written(doc("negatives"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json"]
