"""Self-supervised methods; importing this package registers every built-in method.

Each module in this package registers its method with ``@register_method``; they are
all imported here so that ``create_method(name, ...)`` finds every built-in method.
"""

import importlib
import pkgutil

from selfsup.methods.base import Method, MethodConfig

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Method", "MethodConfig"]
