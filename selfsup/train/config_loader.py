"""Strict loading of dataclass configs from YAML files and ``key=value`` overrides.

Every key must name a field; an unknown key is an error that lists the valid
ones. Values are checked against the field's type (``int``, ``float``, ``bool``,
``str``, ``X | None``, tuples, dicts, nested dataclasses). The ``method`` section
of a ``RunConfig`` is validated against the registered method's own ``Config``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Union

import yaml

from selfsup.configs import resolve_config
from selfsup.registry import method_class
from selfsup.train.config import RunConfig


class ConfigError(ValueError):
    """A config key or value is invalid; the message names it and the fix."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert ``value`` to the annotated type ``tp``; raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: {value!r} is not a valid {_type_name(tp)}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return build_dataclass(tp, value, prefix=key + ".")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list like [a, b], got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}: {value!r}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, arg, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads "1e-3" (no dot) as a string; accept what Python reads as a number.
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def build_dataclass(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from ``values``, rejecting unknown keys by name."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise ConfigError(
                f"unknown config key {prefix}{key}{hint}; valid keys: {', '.join(prefix + k for k in fields)}"
            )
        kwargs[key] = _coerce(value, hints[key], prefix + key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from err


def _yaml_reason(err: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: the problem and where (line, column, 1-based)."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["optim.lr=0.1", "train.epochs=2"]`` → nested dict; values parsed as YAML scalars."""
    tree: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value, e.g. optim.lr=0.1")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise ConfigError(
                f"override {item!r}: the value is not valid YAML ({_yaml_reason(err)})"
            ) from err
        _set_dotted(tree, key, value)
    return tree


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def run_config_from_dict(tree: dict[str, Any]) -> RunConfig:
    """Build and validate a ``RunConfig`` from a nested mapping (YAML layout)."""
    tree = dict(tree)
    method_values = tree.pop("method", None) or {}
    if isinstance(method_values, str):
        method_values = {"name": method_values}
    if not isinstance(method_values, dict):
        raise ConfigError(f"method: expected a mapping with a 'name' key, got {method_values!r}")
    method_values = dict(method_values)
    name = method_values.pop("name", tree.pop("method_name", None) or RunConfig.method_name)
    try:
        cls = method_class(name)
    except KeyError as err:
        raise ConfigError(str(err.args[0])) from err
    cfg = build_dataclass(RunConfig, tree)
    cfg.method_name = name
    cfg.method = build_dataclass(cls.Config, method_values, prefix="method.")
    try:
        cfg.validate()
    except ValueError as err:
        raise ConfigError(str(err)) from err
    return cfg


def load_run_config(
    path: str | Path | None = None, overrides: list[str] | None = None, method: str | None = None
) -> RunConfig:
    """Load a YAML file (optional), apply ``key=value`` overrides, validate strictly.

    ``path`` may be a bare name (``simclr_fashion_mnist`` or ``simclr_fashion_mnist.yaml``, no path
    separator, no such file here): the config shipped in the package (``selfsup configs list``)."""
    tree: dict[str, Any] = {}
    if path is not None:
        path = resolve_config(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"config file {path} does not exist; `selfsup configs list` shows the shipped ones"
            )
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {_yaml_reason(err)}; fix the file") from err
        except UnicodeDecodeError as err:
            raise ConfigError(f"{path} is not UTF-8 text ({err.reason}); save it as UTF-8") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        tree = loaded
    if method is not None:
        in_file = tree.get("method")
        file_name = in_file.get("name") if isinstance(in_file, dict) else in_file
        if file_name is not None and file_name != method:
            raise ConfigError(f"the command asks for method {method!r} but {path} configures {file_name!r}")
        tree = _merge(tree, {"method": {"name": method}})
    tree = _merge(tree, parse_overrides(overrides or []))
    return run_config_from_dict(tree)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain nested dict (YAML-safe: tuples become lists) in the layout the loader reads."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    tree = plain(cfg)
    if isinstance(cfg, RunConfig):
        tree["method"] = {"name": tree.pop("method_name"), **(tree["method"] or {})}
    return tree
