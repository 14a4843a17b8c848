"""``selfsup list [--backbones PATTERN]``: the registered methods, backbone families and datasets.

The plain listing stays light: method names are read from the method modules' ``@register_method``
lines instead of importing them (and timm / torchvision with them); ``--backbones`` imports both.
"""

from __future__ import annotations

import argparse
import re

REGISTER = re.compile(r"""^@register_method\(\s*["'](\w+)["']""", re.M)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list methods, backbones and datasets")
    p.add_argument(
        "--backbones", metavar="PATTERN", help="list backbone names matching PATTERN, e.g. 'timm:vit*'"
    )
    p.set_defaults(run=run)


def builtin_methods() -> list[str]:
    """The names ``selfsup.methods`` registers, without importing it; plus any registered already."""
    from importlib.util import find_spec
    from pathlib import Path

    from selfsup.registry import METHODS

    folders = find_spec("selfsup.methods").submodule_search_locations or []
    sources = (p.read_text(encoding="utf-8") for f in folders for p in Path(f).glob("*.py"))
    return sorted({name for text in sources for name in REGISTER.findall(text)} | set(METHODS.registered()))


def run(args: argparse.Namespace) -> int:
    from selfsup.data import list_datasets
    from selfsup.registry import BACKBONES

    if args.backbones:
        from selfsup.backbones import list_backbones

        print("\n".join(list_backbones(args.backbones)))
        return 0
    print("methods:   " + ", ".join(builtin_methods()))
    print(f"backbones: {', '.join(BACKBONES.names())}, tv:<torchvision model>, timm:<timm model>")
    print("           (see them with `selfsup list --backbones 'timm:vit*'`)")
    print("datasets:  " + ", ".join(list_datasets()))
    return 0
