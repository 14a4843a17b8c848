"""One CLI grammar: every ``--help`` of the command tree, nested protocols, old spellings kept (hidden, with a
one-line note), ``key=value`` in ``compare`` as in ``pretrain``, option defaults from the dataclasses, and
warnings printed as one line."""

from __future__ import annotations

import argparse
import ast
import inspect
import os
import subprocess
import sys
import warnings
from dataclasses import fields, replace

import pytest

from selfsup.cli import eval_cmd, finetune_cmd, label_efficiency_cmd
from selfsup.cli.main import build_parser, main

OLD_SPELLINGS = {
    "train-supervised": "pretrain supervised",
    **{f"eval-{name}": f"eval {name}" for name in eval_cmd.OLD_SPELLINGS},
}


def _tree(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """``(path, parser)`` for the root and every command and sub-command below it, aliases included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _tree(sub, (*path, name))


def test_every_help_exits_cleanly_and_lists_its_choices(capsys) -> None:
    tree = list(_tree(build_parser()))
    assert {
        ("eval", "finetune"),
        ("eval", "davis"),
        ("viz", "attention"),
        *((o,) for o in OLD_SPELLINGS),
    } <= {p for p, _ in tree}
    for path, parser in tree:
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        out = capsys.readouterr().out
        assert exit_info.value.code == 0, path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):  # the listed ones: those with a help line
                listed = [a.dest for a in action._choices_actions]
                assert listed and all(name in out for name in listed), path
                assert not set(listed) & set(OLD_SPELLINGS), path
            elif action.choices:
                assert all(str(c) in out for c in action.choices), (path, action.dest)


def test_protocols_are_subcommands_and_old_spellings_name_the_new_one(tmp_path, capsys) -> None:
    args = build_parser().parse_args(["eval", "finetune", "--encoder", "e", "--epochs", "2"])
    assert args.protocol == "finetune" and args.epochs == 2.0
    for old, new in OLD_SPELLINGS.items():
        argv = {"eval-davis": ["--predictions", str(tmp_path), "--davis-root", str(tmp_path)]}.get(old, [])
        argv = argv or (["optim.lrr=1"] if old == "train-supervised" else ["--encoder", str(tmp_path / "x")])
        assert main([old, *argv]) == 2  # a clear one-line input error, after the note
        err = capsys.readouterr().err.splitlines()
        assert err[0] == f"selfsup: note: `selfsup {old}` is now `selfsup {new}`" and len(err) == 2, err
    assert build_parser().parse_args(["train-supervised", "a=1"]).method == "supervised"
    assert main(["pretrain", "supervised", "optim.lrr=1"]) == 2
    assert "note" not in capsys.readouterr().err


def test_eval_option_defaults_come_from_the_dataclasses(monkeypatch) -> None:
    from selfsup.eval.finetune import FinetuneConfig
    from selfsup.eval.label_efficiency import label_efficiency
    from selfsup.train.config import EvalConfig

    seen: dict[str, dict] = {}

    def capture(name: str):
        def run(args: argparse.Namespace) -> int:
            seen[name] = vars(args)
            return 0

        return run

    monkeypatch.setattr(eval_cmd, "run", capture("knn"))
    for module in (finetune_cmd, label_efficiency_cmd):
        monkeypatch.setattr(module, "COMMAND", replace(module.COMMAND, run=capture(module.__name__)))
    for protocol in ("knn", "finetune", "label-efficiency"):
        assert main(["eval", protocol, "--encoder", "e"]) == 0
    assert (seen["knn"]["k"], seen["knn"]["temperature"]) == (EvalConfig.knn_k, EvalConfig.knn_temperature)
    ft = seen[finetune_cmd.__name__]
    assert all(ft[f.name] == f.default for f in fields(FinetuneConfig) if f.name in finetune_cmd.OPTIONS)
    le = seen[label_efficiency_cmd.__name__]
    defaults = inspect.signature(label_efficiency).parameters
    assert (le["fractions"], le["finetune_steps"]) == (
        defaults["fractions"].default,
        defaults["finetune_max_steps"].default,
    )


def test_building_the_parser_imports_no_lightning_timm_or_torchvision() -> None:
    script = (
        "import sys; from selfsup.cli.main import build_parser; build_parser(); print(sorted(sys.modules))"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert not {"lightning", "timm", "torchvision"} & set(ast.literal_eval(out.stdout))  # read when used


def test_compare_takes_key_value_overrides_like_pretrain(monkeypatch, tmp_path, capsys) -> None:
    out = tmp_path / "cmp"
    base = ["compare", "simclr", "moco", "--steps", "1", "--out", str(out)]
    assert main([*base, "optim.lrr=0.1"]) == 2  # checked against every method's config, before training
    assert "unknown config key optim.lrr" in capsys.readouterr().err and not out.exists()
    seen = {}

    def fake_compare(methods, **kw):
        seen.update(kw, methods=list(methods))
        return []

    monkeypatch.setattr("selfsup.eval.compare.compare", fake_compare)
    argv = ["compare", "simclr", "train.seed=1", "moco", "--steps", "1", "--out", str(out), "optim.lr=0.1"]
    assert main([*argv, "--set", "train.log_every=1"]) == 0  # --set: the old spelling, still taken
    assert seen["methods"] == ["simclr", "moco"]
    assert seen["overrides"] == ["train.seed=1", "optim.lr=0.1", "train.log_every=1"]


def test_warnings_print_as_one_line_without_the_source_line(monkeypatch, capsys) -> None:
    def warn(args: argparse.Namespace) -> int:
        warnings.warn("skipped 2 unreadable images:\n  a.png, b.png", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(eval_cmd, "run", warn)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["eval", "knn", "--encoder", "e"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warnings.warn" not in err, err
    assert err.startswith("selfsup: warning: skipped 2 unreadable images: a.png, b.png (UserWarning, ")
