"""What the ``selfsup`` commands share: sub-command tables, old spellings, ``key=value``, quiet output.

Commands import this module, never ``cli/main.py`` (which imports every command).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SubCommand:
    """One ``selfsup <command> <name>`` entry: help line, its own options, and the runner (exit code)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class Default:
    """An option's default read from its one home when needed (shown by ``--help``, used by a run), so
    building the parser imports nothing heavy: ``Default("selfsup.train.config", "EvalConfig", "knn_k")``
    is ``EvalConfig.knn_k``; for a function, the default of its parameter ``name``."""

    def __init__(self, module: str, owner: str, name: str) -> None:
        self.module, self.owner, self.name = module, owner, name

    def value(self) -> Any:
        owner = getattr(importlib.import_module(self.module), self.owner)
        if inspect.isfunction(owner):
            return inspect.signature(owner).parameters[self.name].default
        return getattr(owner, self.name)

    def __str__(self) -> str:
        return str(self.value())


def _runner(run: Callable[[argparse.Namespace], int], note: str = "") -> Callable[[argparse.Namespace], int]:
    """``run`` after printing ``note`` (if any) and replacing each ``Default`` in ``args`` by its value."""

    def resolved(args: argparse.Namespace) -> int:
        if note:
            print(note, file=sys.stderr)
        for key, value in vars(args).items():
            if isinstance(value, Default):
                setattr(args, key, value.value())
        return run(args)

    return resolved


def add_subcommands(p: argparse.ArgumentParser, dest: str, commands: dict[str, SubCommand]) -> None:
    """``commands`` as required sub-commands of ``p``, listed in its ``--help``."""
    sub = p.add_subparsers(dest=dest, metavar=dest.upper(), required=True)
    for name, command in commands.items():
        # argparse %-formats help strings ("60%-mass" would break --help), not descriptions.
        sp = sub.add_parser(name, help=command.help.replace("%", "%%"), description=command.help)
        command.add_arguments(sp)
        sp.set_defaults(run=_runner(command.run))


def add_old_spelling(sub: argparse._SubParsersAction, old: str, new: str, command: SubCommand) -> None:
    """Command ``old``, hidden from ``--help``: ``new``'s options and runner, after a one-line note."""
    p = sub.add_parser(old, description=f"{command.help} (old spelling of `selfsup {new}`)")
    command.add_arguments(p)
    p.set_defaults(run=_runner(command.run, f"selfsup: note: `selfsup {old}` is now `selfsup {new}`"))


def add_overrides_argument(p: argparse.ArgumentParser, help: str = "config overrides") -> None:
    """Positional ``key=value`` words; ``main`` also collects those that follow options."""
    p.add_argument("overrides", nargs="*", default=[], metavar="key=value", help=help)


def quiet_third_party_output() -> None:
    """Hide Lightning's banners and tips and known deprecation noise from dependencies.

    Lightning sets its loggers to INFO when imported, so this imports it first.
    """
    import warnings

    import lightning  # noqa: F401

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")
    warnings.filterwarnings("ignore", message=".*weights_only.*")


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` as one line, ``selfsup: warning: MESSAGE (Category, file.py:12)``: no
    source line (Python's default) and no line breaks."""
    text = " ".join(str(message).split())
    where = f"{category.__name__}, {Path(filename).name}:{lineno}"
    print(f"selfsup: warning: {text} ({where})", file=file or sys.stderr)
