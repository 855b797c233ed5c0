"""Deprecated name: this module moved to :mod:`tocsin.core.models`.

``tocsin.models`` still imports for one release, with a DeprecationWarning,
and gives every name of ``tocsin.core.models``; import from there instead.
"""

import warnings
from typing import Any

from tocsin.core import models as _moved

warnings.warn("tocsin.models is deprecated: import from tocsin.core.models", DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)
