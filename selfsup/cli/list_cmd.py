"""``selfsup list``: the registered methods, backbone families and datasets."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list methods, backbones and datasets")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from selfsup.backbones import list_backbones
    from selfsup.data import list_datasets
    from selfsup.registry import list_methods

    print("methods:   " + ", ".join(list_methods()))
    print("backbones: " + ", ".join(list_backbones()))
    print("datasets:  " + ", ".join(list_datasets()))
    return 0
