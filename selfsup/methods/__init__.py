"""Self-supervised methods; importing this package registers every built-in method."""

from selfsup.methods.base import Method, MethodConfig
from selfsup.methods.simclr import SimCLR, SimCLRConfig

__all__ = ["Method", "MethodConfig", "SimCLR", "SimCLRConfig"]
