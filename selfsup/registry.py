"""Method registry: ``register_method`` / ``create_method`` / ``list_methods``.

A method module registers its class at import time; ``selfsup.methods`` imports
every method module, so ``create_method("simclr", ...)`` works after ``import selfsup``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from selfsup.methods.base import Method

_METHODS: dict[str, type[Method]] = {}
T = TypeVar("T")


def register_method(name: str) -> Callable[[T], T]:
    """Class decorator: make a ``Method`` subclass available under ``name``."""

    def wrap(cls: T) -> T:
        if name in _METHODS and _METHODS[name] is not cls:
            raise ValueError(f"method {name!r} is already registered by {_METHODS[name].__name__}")
        _METHODS[name] = cls  # type: ignore[assignment]
        cls.name = name  # type: ignore[attr-defined]
        return cls

    return wrap


def method_class(name: str) -> type[Method]:
    """The registered class for ``name``; a clear error listing the known names otherwise."""
    import selfsup.methods  # noqa: F401  (registers the built-in methods)

    if name not in _METHODS:
        raise KeyError(f"unknown method {name!r}; available methods: {', '.join(list_methods())}")
    return _METHODS[name]


def create_method(name: str, backbone: Any, config: Any = None) -> Method:
    """Build method ``name`` around ``backbone`` with its ``Config`` (defaults if None)."""
    cls = method_class(name)
    return cls(backbone, config if config is not None else cls.Config())


def list_methods() -> list[str]:
    import selfsup.methods  # noqa: F401

    return sorted(_METHODS)
