"""Label sets: validation, fingerprints and Alertmanager's string forms.

A label set is a plain ``dict[str, str]``. Fingerprints follow Prometheus'
``model/signature.go``: FNV-1a 64 over the pairs sorted by name, each name
and value followed by the byte 0xFF, printed as 16 hex digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEP = 0xFF

# Without the C hash, fingerprints cost enough in pure Python that remembering
# them pays (Prometheus re-posts the same sets every evaluation); the cache is
# bounded by clearing it when it grows past the limit. With the C hash,
# computing one costs about as much as the cache key, and the cache would hold
# about 500 bytes per active alert, so there is none.
_fp_cache: dict[tuple[tuple[str, str], ...], str] = {}
_FP_CACHE_MAX = 500_000


def _fnv1a_py(labels: tuple[tuple[str, str], ...]) -> int:
    h = _FNV_OFFSET
    for name, value in labels:
        for b in name.encode():
            h = ((h ^ b) * _FNV_PRIME) & _MASK
        h = ((h ^ _SEP) * _FNV_PRIME) & _MASK
        for b in value.encode():
            h = ((h ^ b) * _FNV_PRIME) & _MASK
        h = ((h ^ _SEP) * _FNV_PRIME) & _MASK
    return h


try:  # the same hash in C, about four times faster; pure Python where it is not installed
    from fnv_c import fnv1a_64 as _fnv1a_c
except ImportError:  # pragma: no cover - depends on the platform
    _fnv1a_c = None


def _fnv1a(labels: tuple[tuple[str, str], ...]) -> int:
    if _fnv1a_c is None:
        return _fnv1a_py(labels)
    return _fnv1a_c(b"".join(n.encode() + b"\xff" + v.encode() + b"\xff" for n, v in labels))


def label_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The canonical, hashable form of a label set: pairs sorted by name."""
    return tuple(sorted(labels.items()))


def _fingerprint_cached(labels: Mapping[str, str]) -> str:
    key = label_key(labels)
    fp = _fp_cache.get(key)
    if fp is None:
        fp = format(_fnv1a_py(key), "016x")
        if len(_fp_cache) >= _FP_CACHE_MAX:
            _fp_cache.clear()
        _fp_cache[key] = fp
    return fp


def _fingerprint_c(labels: Mapping[str, str]) -> str:
    pairs = sorted(labels.items())
    # Names and values joined by NUL, which UTF-8 encodes as one byte, then each NUL
    # made the 0xFF separator; a label holding a NUL itself takes the slower way.
    text = "\0".join(map("\0".join, pairs)) + "\0"
    if text.count("\0") == 2 * len(pairs):
        return format(_fnv1a_c(text.encode().replace(b"\0", b"\xff")), "016x")
    return format(_fnv1a(tuple(pairs)), "016x")


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set, as 16 lowercase hex digits."""
    if _fnv1a_c is None:
        return _fingerprint_cached(labels)
    return _fingerprint_c(labels)


#: Names already found valid. Label and annotation names repeat across alerts far more
#: than values do, so a set check replaces most regex matches; bounded, it stops growing.
_VALID_NAMES: set[str] = set()
_VALID_NAMES_MAX = 10_000


def valid_label_name(name: str) -> bool:
    if name in _VALID_NAMES:
        return True
    if LABEL_NAME_RE.fullmatch(name) is None:
        return False
    if len(_VALID_NAMES) < _VALID_NAMES_MAX:
        _VALID_NAMES.add(name)
    return True


def invalid_label_name(names: Iterable[str]) -> str | None:
    """The first name in ``names`` that is not a valid label name, or ``None``."""
    if _VALID_NAMES.issuperset(names):  # the common case, in one C-level pass
        return None
    for name in names:
        if not valid_label_name(name):
            return name
    return None


_GO_SHORT_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
}


def go_quote(s: str) -> str:
    """Quote a string the way Go's ``%q`` (``strconv.Quote``) does."""
    if s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    out = ['"']
    for ch in s:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch.isprintable():  # Python and Go agree: not Other nor Separator, but ' '
            out.append(ch)
        elif ch in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def labelset_string(labels: Mapping[str, str]) -> str:
    """``{a="b", c="d"}``: Prometheus' ``LabelSet.String``, used in group keys."""
    parts = sorted(f"{k}={go_quote(v)}" for k, v in labels.items())
    return "{" + ", ".join(parts) + "}"
