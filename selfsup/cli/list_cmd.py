"""``selfsup list [--backbones PATTERN]``: the registered methods, backbone families and datasets."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list methods, backbones and datasets")
    p.add_argument(
        "--backbones", metavar="PATTERN", help="list backbone names matching PATTERN, e.g. 'timm:vit*'"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from selfsup.backbones import list_backbones
    from selfsup.data import list_datasets
    from selfsup.registry import list_methods

    if args.backbones:
        print("\n".join(list_backbones(args.backbones)))
        return 0
    names = list_backbones()
    own = [n for n in names if ":" not in n]
    tv = sum(n.startswith("tv:") for n in names)
    timm = sum(n.startswith("timm:") for n in names)
    print("methods:   " + ", ".join(list_methods()))
    print(f"backbones: {', '.join(own)}, tv:<name> ({tv} models), timm:<name> ({timm} models)")
    print("           (see them with `selfsup list --backbones 'timm:vit*'`)")
    print("datasets:  " + ", ".join(list_datasets()))
    return 0
