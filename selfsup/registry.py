"""One registry mechanism for the three named families: methods, backbones and datasets.

A module registers what it defines at import time (``@register_method("simclr")``,
``BACKBONES.register("resnet_small")``, ``DATASETS.register("stamps")``); the factories
(``create_method``, ``selfsup.backbones.create_backbone``, ``selfsup.data.create_dataset``) look
names up here. Each registry imports the package that registers its built-in entries on first use
(``selfsup.methods``, ``selfsup.backbones``, ``selfsup.data.factory``), so ``create_method("simclr",
...)`` works after ``import selfsup``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from selfsup.methods.base import Method

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name no registry entry has (a ``KeyError`` and a ``ValueError``); the message lists the names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """``name -> entry`` for one ``kind`` ("method", "backbone", "dataset").

    ``load``: the module whose import registers the built-in entries, imported on first lookup.
    """

    def __init__(self, kind: str, load: str | None = None) -> None:
        self.kind = kind
        self._load = load
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: make ``entry`` available under ``name`` (a second entry for a name is an error)."""

        def wrap(entry: T) -> T:
            if name in self._entries and self._entries[name] is not entry:
                raise ValueError(f"{self.kind} {name!r} is already registered by {self._entries[name]!r}")
            self._entries[name] = entry
            return entry

        return wrap

    def _loaded(self) -> dict[str, T]:
        if self._load is not None:
            importlib.import_module(self._load)
        return self._entries

    def __getitem__(self, name: str) -> T:
        entries = self._loaded()
        if name not in entries:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; available {self.kind}s: {', '.join(self.names())}"
            )
        return entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded()

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._loaded())

    def registered(self) -> list[str]:
        """The names registered so far, without importing ``load`` (light listings)."""
        return sorted(self._entries)


METHODS: Registry[type[Method]] = Registry("method", load="selfsup.methods")
# Named nets (the tv: and timm: families are prefixes the backbone factory parses).
BACKBONES: Registry[Callable[..., Any]] = Registry("backbone", load="selfsup.backbones")
DATASETS: Registry[Callable[..., Any]] = Registry("dataset", load="selfsup.data.factory")


def register_method(name: str) -> Callable[[T], T]:
    """Class decorator: make a ``Method`` subclass available under ``name`` (and set its ``name``)."""

    def wrap(cls: T) -> T:
        METHODS.register(name)(cls)  # type: ignore[arg-type]
        cls.name = name  # type: ignore[attr-defined]
        return cls

    return wrap


def method_class(name: str) -> type[Method]:
    """The registered class for ``name``; a clear error listing the known names otherwise."""
    return METHODS[name]


def create_method(name: str, backbone: Any, config: Any = None) -> Method:
    """Build method ``name`` around ``backbone`` with its ``Config`` (defaults if None)."""
    cls = method_class(name)
    return cls(backbone, config if config is not None else cls.Config())


def list_methods() -> list[str]:
    return METHODS.names()
