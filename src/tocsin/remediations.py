"""Deprecated name: this module moved to :mod:`tocsin.remediation`.

``tocsin.remediations`` still imports for one release, with a DeprecationWarning,
and gives every name of ``tocsin.remediation``; import from there instead.
"""

import warnings
from typing import Any

from tocsin import remediation as _moved

warnings.warn("tocsin.remediations is deprecated: import from tocsin.remediation",
              DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    return getattr(_moved, name)
