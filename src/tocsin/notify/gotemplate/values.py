"""Python values as the Go values a template sees: their type names, truth, and how
``fmt`` prints them with ``%v``.

``None`` is nil, ``int`` Go's int, ``float`` float64, ``str`` string, a ``list`` a
slice, a ``dict`` a map; a :class:`GoStruct` a struct whose exported fields and
methods a template may use; :class:`HTML` the ``template.HTML`` of ``safeHtml``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

__all__ = [
    "HTML", "ExecError", "GoStruct", "StrSlice", "go_method", "go_params", "is_true", "type_name", "zero_of",
]


class ExecError(Exception):
    """A template that fails as it runs."""


class HTML(str):
    """``html/template.HTML``: text an HTML template writes without escaping."""

    __slots__ = ()


class StrSlice(list[str]):
    """A ``[]string``, which ``join`` takes."""


def go_method(fn: Any) -> Any:
    """Marks a method a template may call (``.Alerts.Firing``, ``.Labels.SortedPairs``)."""
    fn.go_method = True
    fn.go_params = getattr(fn, "go_params", ())
    return fn


def go_params(*types: str) -> Any:
    """The Go types of a method's parameters (``string``, ``int``, ``[]string``, ``time``);
    put under :func:`go_method`."""
    def mark(fn: Any) -> Any:
        fn.go_params = types
        return fn
    return mark


class GoStruct:
    """A Go struct: ``go_fields`` are what ``.Name`` reads, in ``%v`` order."""

    __slots__ = ()
    go_type: ClassVar[str] = "struct"
    go_fields: ClassVar[tuple[str, ...]] = ()
    #: Printed ``&{...}`` by ``%v``, as a pointer to the struct is.
    pointer: ClassVar[bool] = False


def type_name(value: Any) -> str:
    """The Go type's name, as errors and ``%T`` write it."""
    if value is None:
        return "<nil>"
    go_type = getattr(value, "go_type", None)
    if go_type:
        return str(go_type)
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]string" if isinstance(value, StrSlice) else "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


def is_true(value: Any) -> bool:
    """Go's truth: not false, 0, nil, or an empty string, slice or map; a struct is true."""
    if value is None:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return True


def zero_of(mapping: Any) -> Any:
    """What a map gives for a missing key under ``missingkey=zero``: ``""`` for a map of
    strings (Alertmanager's ``KV``), else nil."""
    return getattr(mapping, "zero", None)


def format_float(value: float, verb: str = "g", prec: int = -1) -> str:
    """``strconv.FormatFloat`` as ``fmt`` uses it: ``%v`` is ``%g`` with the shortest
    digits, in exponent form when the exponent is below -4 or 6 and more."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if verb in "fF":
        return f"{value:.{6 if prec < 0 else prec}f}"
    if verb in "eE":
        text = f"{value:.{6 if prec < 0 else prec}e}"
        return text.upper() if verb == "E" else text
    text = f"{value:.{max(prec, 1)}g}" if prec >= 0 else _shortest(value)
    return text.upper() if verb == "G" else text


def _shortest(value: float) -> str:
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    sign, digit_tuple, exp = Decimal(repr(value)).as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple))
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    lead = len(stripped) + exp - 1  # the exponent of the first digit
    out = "-" if sign else ""
    if lead < -4 or lead >= 6:
        mantissa = stripped[0] + ("." + stripped[1:] if len(stripped) > 1 else "")
        return f"{out}{mantissa}e{'-' if lead < 0 else '+'}{abs(lead):02d}"
    if lead < 0:
        return out + "0." + "0" * (-lead - 1) + stripped
    whole, frac = stripped[: lead + 1].ljust(lead + 1, "0"), stripped[lead + 1:]
    return out + whole + ("." + frac if frac else "")
