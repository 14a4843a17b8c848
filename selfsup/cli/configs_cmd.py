"""``selfsup configs list|show NAME|copy NAME [DEST]``: the configs shipped in the package.

Every ``--config`` also takes a shipped config by name (``--config simclr_fashion_mnist``); copy one
to edit it. See ``selfsup.configs``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("configs", help="list, show or copy the configs shipped with selfsup")
    actions = p.add_subparsers(dest="configs_action", metavar="ACTION")
    actions.add_parser("list", help="each shipped config with its first comment line (the default)")
    show = actions.add_parser("show", help="print a shipped config")
    show.add_argument("name", help="config name, e.g. simclr_fashion_mnist")
    show.set_defaults(run=run_show)
    copy = actions.add_parser("copy", help="copy a shipped config to edit it")
    copy.add_argument("name", help="config name, e.g. simclr_fashion_mnist")
    copy.add_argument("dest", nargs="?", help="file or existing folder (default ./NAME.yaml)")
    copy.add_argument("--force", action="store_true", help="overwrite DEST if it exists")
    copy.set_defaults(run=run_copy)
    p.set_defaults(run=run_list)


def run_list(args: argparse.Namespace) -> int:
    from selfsup.configs import config_summary, shipped_configs

    configs = shipped_configs()
    width = max(map(len, configs))
    for name, path in configs.items():
        print(f"{name:<{width}}  {config_summary(path)}")
    print(f"({len(configs)} configs; use one with --config NAME, edit a copy: selfsup configs copy NAME)")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from selfsup.configs import shipped_config

    print(shipped_config(args.name).read_text(encoding="utf-8"), end="")
    return 0


def run_copy(args: argparse.Namespace) -> int:
    import yaml

    from selfsup.configs import shipped_config

    source = shipped_config(args.name)
    dest = Path(args.dest) if args.dest else Path(source.name)
    if dest.is_dir():
        dest = dest / source.name
    if dest.exists() and not args.force:
        raise ValueError(f"{dest} exists; pass --force to overwrite it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    text = source.read_text(encoding="utf-8")
    dest.write_text(text, encoding="utf-8")
    method = (yaml.safe_load(text) or {}).get("method") or {}
    method = method.get("name", "METHOD") if isinstance(method, dict) else method
    print(f"copied {source.stem} to {dest}; train with it: selfsup pretrain {method} --config {dest}")
    return 0
