"""``selfsup train-supervised``: the old spelling of ``selfsup pretrain supervised`` (``pretrain_cmd``).

Kept, hidden from ``--help``; it says the new spelling in one line and runs the same code.
"""

from __future__ import annotations

import argparse

from selfsup.cli.common import SubCommand, add_old_spelling

HELP = "train a supervised baseline (same backbones, cross-entropy on labels)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The old spelling ``selfsup train-supervised``: ``pretrain``'s options, method supervised."""
    from selfsup.cli import pretrain_cmd

    def add_arguments(p: argparse.ArgumentParser) -> None:
        pretrain_cmd.add_arguments(p)
        p.set_defaults(method="supervised")

    add_old_spelling(
        sub, "train-supervised", "pretrain supervised", SubCommand(HELP, add_arguments, pretrain_cmd.run)
    )
