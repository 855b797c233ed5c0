"""Deprecated name: this module moved to :mod:`tocsin.config.validate`.

``tocsin.validate`` still imports for one release, with a DeprecationWarning,
and gives every name of ``tocsin.config.validate``; import from there instead.
"""

import warnings
from typing import Any

from tocsin.config import validate as _moved

warnings.warn("tocsin.validate is deprecated: import from tocsin.config.validate",
              DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)
