"""tocsin: an alert-routing daemon."""

import pluggy

__version__ = "0.1.0"

#: Decorator that marks a function or method as a tocsin hook implementation.
hookimpl = pluggy.HookimplMarker("tocsin")

__all__ = ["__version__", "hookimpl"]
