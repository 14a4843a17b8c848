"""The report follows the run: validation and test columns named, embeddings of the run's own data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from report_fixtures import make_run

import selfsup.data
from selfsup.backbones import create_backbone
from selfsup.export import export_encoder
from selfsup.types import InputSpec
from selfsup.viz.report import write_report
from selfsup.viz.run_artifacts import load_run
from selfsup.viz.run_embeddings import run_embeddings

SPLITS = {
    "dataset": "digits",
    "train": 1437,
    "validation": {"carved_from": "train", "fraction": 0.1, "seed": 0, "stratified": True, "images": 144},
    "test": {"images": 360, "source": "the digits test split"},
}


def _cells(row_html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", row_html)]


def test_results_table_shows_validation_and_test_columns_and_names_the_splits(tmp_path: Path) -> None:
    run = make_run(tmp_path, encoder=False)
    rows = [
        {
            "name": "raw pixels",
            "knn": 0.81,
            "linear": None,
            "feature_dim": 64,
            "seconds": 0.5,
            "knn_val": 0.8,
        },
        {"name": "dino", "knn": 0.9345, "linear": 0.9512, "feature_dim": 32, "seconds": 1.2}
        | {"knn_val": 0.9301, "linear_val": 0.9444},
    ]
    (run / "results.json").write_text(json.dumps(rows))
    (run / "eval_splits.json").write_text(json.dumps(SPLITS))
    page = write_report([run], out=tmp_path / "r.html", embeddings=False).read_text()
    table = re.search(r'<section id="results">.*?</section>', page, re.S).group(0)
    header, *body = re.findall(r"<tr>(.*?)</tr>", table)
    assert _cells(header)[:5] == [
        "encoder",
        "kNN top-1 % (validation)",
        "kNN top-1 % (test)",
        "linear top-1 % (validation)",
        "linear top-1 % (test)",
    ]
    assert _cells(body[1])[:5] == ["dino", "93.01", "93.45", "94.44", "95.12"]
    assert _cells(body[0])[:5] == ["raw pixels", "80.00", "81.00", "—", "—"]
    assert "validation: 144 images carved from the digits train split (10 %, stratified, seed 0)" in table
    assert "test: 360 images of the digits test split, scored once" in table


def test_embeddings_use_the_recorded_input_of_a_caption_run(tmp_path: Path, monkeypatch) -> None:
    """A CLIP run on stamp captions is embedded on the labelled stamps behind them, at its 16 px."""
    run_dir = make_run(tmp_path, encoder=False)
    spec = InputSpec(16, 3, (0.5,) * 3, (0.5,) * 3, "stamps_captions", None)
    derived = json.loads((run_dir / "derived.json").read_text()) | {"input": spec.to_dict()}
    (run_dir / "derived.json").write_text(json.dumps(derived))
    torch.manual_seed(0)
    backbone = create_backbone("resnet_small", in_chans=3, image_size=16, width=4, depths=[1, 1, 1, 1])
    export_encoder(backbone, run_dir / "encoder", method="clip", image_size=16, input=spec.to_dict())
    built = []
    original = selfsup.data.create_dataset

    def spy(name, split, **kw):
        built.append((name, split, kw.get("image_size")))
        return original(name, split, **kw)

    monkeypatch.setattr(selfsup.data, "create_dataset", spy)
    emb = run_embeddings(load_run(run_dir), max_items=60)
    assert built == [("stamps", "test", 16)]
    assert emb.num_points == 60 and emb.retrieval_precision is not None
