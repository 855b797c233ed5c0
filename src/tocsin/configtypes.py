"""Deprecated name: this module moved to :mod:`tocsin.config.types`.

``tocsin.configtypes`` still imports for one release, with a DeprecationWarning,
and gives every name of ``tocsin.config.types``; import from there instead.
"""

import warnings
from typing import Any

from tocsin.config import types as _moved

warnings.warn("tocsin.configtypes is deprecated: import from tocsin.config.types",
              DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)
