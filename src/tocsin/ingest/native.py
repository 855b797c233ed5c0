"""Native events: the body of ``POST /api/tocsin/v1/events`` as :class:`PostableAlert`.

An application that does not speak Alertmanager posts one event (a JSON
object) or a batch (an array of them)::

    {"type": "DiskFull", "severity": "critical", "resource": "db1",
     "title": "Disk almost full", "value": 97.5, "threshold": 90, "ttl": "15m"}

Fields become labels (``type`` -> ``alertname``, ``severity``, ``priority``,
``category``, ``resource``, ``environment``) or annotations (``title`` ->
``summary``, ``message`` -> ``description``, ``metadata``, ``value``, ...).
Labels are built from the event's content only, never from the clock, so
posting the same event again yields the same fingerprint and updates the
held alert instead of adding another.

The label names the fields set are reserved: ``labels`` may not name them,
whether or not the event sets the field. An entry of ``annotations`` may
not clash with an annotation a field set. An empty string in an optional
field, like ``null``, means the field is left out.

Problems are reported per event, with the field they concern; the good
events of a batch are kept. Only a body that is not JSON, not an object or
array, or an empty array, fails as a whole.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import msgspec

from tocsin.core.durations import Duration
from tocsin.core.jsondecode import decode, split_error
from tocsin.core.labels import valid_label_name
from tocsin.core.models import PostableAlert
from tocsin.core.severity import SEVERITIES, severity_level

__all__ = [
    "CATEGORIES", "PRIORITIES", "NativeEvent", "NativeEventError", "decode_events", "event_field",
    "to_postable",
]

#: ``priority`` values (lower case) and the severity each one means.
PRIORITIES = {
    "p1": "critical", "critical": "critical",
    "p2": "error", "high": "error",
    "p3": "warning", "medium": "warning",
    "p4": "info", "p5": "info", "low": "info", "info": "info",
}
#: The values ``category`` may take.
CATEGORIES = ("system", "database", "application", "performance", "security", "business", "availability")

_DEFAULT_SEVERITY = "warning"
_SEVERITY_CHOICES = ", ".join(SEVERITIES)
_PRIORITY_CHOICES = "P1, P2, P3, P4, P5, critical, high, medium, low, info"

#: Labels set by event fields, and the field that sets each.
_LABEL_FIELDS = {
    "alertname": "type", "severity": "severity", "priority": "priority",
    "category": "category", "resource": "resource", "environment": "environment",
}
#: Annotations set by event fields, and the field that sets each.
_ANNOTATION_FIELDS = {
    "summary": "title", "description": "message", "metadata": "metadata", "value": "value",
    "threshold": "threshold", "recommendations": "recommendations", "affected_users": "affected_users",
    "runbook_url": "runbook_url", "dashboard_url": "dashboard_url",
}

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INT_RE = re.compile(r"[+-]?\d+")

Number = int | float | str
_T = TypeVar("_T")


class NativeEvent(msgspec.Struct, forbid_unknown_fields=True):
    """One native event as posted. Validation beyond JSON types is :func:`to_postable`'s."""

    type: str
    title: str | None = None
    message: str | None = None
    severity: str | None = None
    priority: str | None = None
    category: str | None = None
    resource: str | None = None
    environment: str | None = None
    labels: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    metadata: Any = None
    value: Number | None = None
    threshold: Number | None = None
    recommendations: list[str] | None = None
    affected_users: int | None = None
    runbook_url: str | None = None
    dashboard_url: str | None = None
    generator_url: str | None = None
    resolve: bool = False
    ttl: Number | None = None
    starts_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    startsAt: Annotated[datetime, msgspec.Meta(tz=True)] | None = None  # Alertmanager's spelling


class NativeEventError(Exception):
    """A problem with one event (``index``; 0 for a single object) or, with
    ``index`` -1 and ``field`` empty, with the whole body.

    ``field`` is relative to the event: ``"severity"``, ``"labels.9x"``.
    """

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(index, field, message)
        self.index = index
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def __repr__(self) -> str:
        return f"NativeEventError(index={self.index}, field={self.field!r}, message={self.message!r})"


class _Invalid(Exception):
    """One field's problem, raised by the field checks below."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message


# -- the body ------------------------------------------------------------------------------

_event_dec = msgspec.json.Decoder(NativeEvent)
_raw_dec = msgspec.json.Decoder(msgspec.Raw)
_raws_dec = msgspec.json.Decoder(list[msgspec.Raw])
_JSON_KINDS = {ord("{"): "an object", ord("["): "an array", ord('"'): "a string",
               ord("t"): "a boolean", ord("f"): "a boolean", ord("n"): "null"}


def _body_events(body: bytes) -> list[msgspec.Raw]:
    """The events of a body, each still JSON; raises for a body that holds none."""
    try:
        raw = decode(_raw_dec, body)
    except msgspec.DecodeError as exc:
        message = "empty body" if not body.strip() else f"invalid JSON: {exc}"
        raise NativeEventError(-1, "", message) from None
    head = bytes(raw)[0]
    if head == ord("{"):
        return [raw]
    if head != ord("["):
        kind = _JSON_KINDS.get(head, "a number")
        raise NativeEventError(-1, "", f"expected a JSON object or an array of objects (got {kind})")
    try:
        raws = decode(_raws_dec, raw)
    except msgspec.DecodeError as exc:  # valid JSON: only too deep
        raise NativeEventError(-1, "", f"invalid JSON: {exc}") from None
    if not raws:
        raise NativeEventError(-1, "", "no events")
    return raws


def decode_events(
    body: bytes, now: float
) -> tuple[list[tuple[int, PostableAlert]], list[NativeEventError]]:
    """Decode and convert a body of one event or an array of them.

    Returns ``(index, alert)`` pairs for the good events and the problems of
    the others (maybe several per event), in index order. Raises
    :class:`NativeEventError` (index -1) when the body is not JSON, neither
    an object nor an array, or an empty array. An array item that is not an
    object is a problem of that item only.
    """
    good: list[tuple[int, PostableAlert]] = []
    bad: list[NativeEventError] = []
    for index, raw in enumerate(_body_events(body)):
        try:
            event = decode(_event_dec, raw)
        except msgspec.ValidationError as exc:
            field, message = _explain(exc)
            bad.append(NativeEventError(index, field, message))
            continue
        except msgspec.DecodeError as exc:  # valid JSON, but nested too deeply (metadata)
            bad.append(NativeEventError(index, "", f"invalid JSON: {exc}"))
            continue
        result = to_postable(event, index, now)
        if isinstance(result, PostableAlert):
            good.append((index, result))
        else:
            bad.extend(result)
    return good, bad


# -- msgspec's errors, told in the event's terms -------------------------------------------

_EXPECTED_RE = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_GOT = {"str": "a string", "int": "a number", "float": "a number", "bool": "a boolean",
        "null": "null", "array": "an array", "object": "an object"}
_TIMESTAMP = "must be an RFC 3339 timestamp with a time zone, e.g. 2024-05-01T12:00:00Z"
_WANT = {
    "labels": "an object of strings",
    "annotations": "an object of strings",
    "value": "a number or a numeric string",
    "threshold": "a number or a numeric string",
    "ttl": "a number of seconds or a duration such as '15m'",
    "recommendations": "a list of strings",
    "affected_users": "a whole number",
    "resolve": "true or false",
}


def _explain(error: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec's ``ValidationError`` as ``(field, message)``, in the event's terms."""
    path, text = split_error(error)
    if text.startswith("Object contains unknown field"):
        return path, _unknown_field(path.rpartition(".")[2])
    if text.startswith("Object missing required field"):
        return path, "required"
    if path in ("starts_at", "startsAt") and "datetime" in text:
        return path, _TIMESTAMP
    if text == "Number out of range":
        return path, "must be a finite number"
    if (expected := _EXPECTED_RE.match(text)) is not None:
        got = _GOT.get(expected["got"], expected["got"])
        if not path:
            return "", f"an event must be a JSON object (got {got})"
        want = "a string" if path.endswith("]") else _WANT.get(path, "a string")
        return path, f"must be {want} (got {got})"
    return path, text[:1].lower() + text[1:]


def _unknown_field(name: str) -> str:
    close = difflib.get_close_matches(name, NativeEvent.__struct_fields__, n=1, cutoff=0.75)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown field '{name}'{hint}"


# -- one event -----------------------------------------------------------------------------


def to_postable(event: NativeEvent, index: int, now: float) -> PostableAlert | list[NativeEventError]:
    """Convert one decoded event; ``now`` (Unix seconds) is its default start and
    the base of ``resolve`` and ``ttl``. Returns the alert, or every problem found."""
    errors: list[NativeEventError] = []

    def check(fn: Callable[..., _T], *args: Any) -> _T | None:
        try:
            return fn(*args)
        except _Invalid as exc:
            errors.append(NativeEventError(index, exc.field, exc.message))
            return None

    derived = {
        "alertname": check(_alertname, event.type),
        "severity": check(_severity, event.severity, event.priority),
        "priority": check(_priority, event.priority),
        "category": check(_category, event.category),
        "resource": _text(event.resource),
        "environment": _text(event.environment),
    }
    labels = {name: value for name, value in derived.items() if value}
    for name, value in _extras(event.labels, "labels", _LABEL_FIELDS, index, errors).items():
        if value:  # Alertmanager drops empty label values
            labels[name] = value
    set_by_fields = {
        "summary": _text(event.title),
        "description": _text(event.message),
        "metadata": _metadata(event.metadata),
        "value": check(_number, "value", event.value),
        "threshold": check(_number, "threshold", event.threshold),
        "recommendations": _lines(event.recommendations),
        "affected_users": check(_count, "affected_users", event.affected_users),
        "runbook_url": check(_url, "runbook_url", event.runbook_url),
        "dashboard_url": check(_url, "dashboard_url", event.dashboard_url),
    }
    annotations = {name: value for name, value in set_by_fields.items() if value}
    clashes = {name: _ANNOTATION_FIELDS[name] for name in annotations}
    annotations.update(_extras(event.annotations, "annotations", clashes, index, errors))
    generator_url = check(_url, "generator_url", event.generator_url)
    times = check(_times, event, now)
    if errors or times is None:
        return errors
    starts_at, ends_at = times
    return PostableAlert(labels=labels, annotations=annotations, starts_at=starts_at,
                         ends_at=ends_at, generator_url=generator_url or "")


# -- labels --------------------------------------------------------------------------------


def _alertname(value: str) -> str:
    alertname = value.strip()
    if not alertname:
        raise _Invalid("type", "must not be empty")
    return alertname


def _severity(severity: str | None, priority: str | None) -> str:
    """The ``severity`` field, else the one ``priority`` means, else warning."""
    if _text(severity):
        level = severity_level(severity)
        if level is None:
            raise _Invalid("severity", f"must be one of {_SEVERITY_CHOICES} (got {severity!r})")
        return level
    # A bad priority is reported by _priority.
    return PRIORITIES.get(_text(priority).lower(), _DEFAULT_SEVERITY)


def _priority(value: str | None) -> str:
    """The ``priority`` label: ``P1``..``P5`` in upper case, the words in lower case."""
    priority = _text(value).lower()
    if priority and priority not in PRIORITIES:
        raise _Invalid("priority", f"must be one of {_PRIORITY_CHOICES} (got {value!r})")
    return priority.upper() if priority.startswith("p") else priority


def _category(value: str | None) -> str:
    category = _text(value).lower()
    if category and category not in CATEGORIES:
        raise _Invalid("category", f"must be one of {', '.join(CATEGORIES)} (got {value!r})")
    return category


def _extras(
    given: dict[str, Any] | None, kind: str, reserved: dict[str, str], index: int,
    errors: list[NativeEventError],
) -> dict[str, str]:
    """The event's own ``labels`` or ``annotations``; their problems go to ``errors``.
    ``reserved`` maps the names event fields set to those fields."""
    out: dict[str, str] = {}
    what = kind.removesuffix("s")
    for name, value in (given or {}).items():
        field = f"{kind}.{name}"
        if not valid_label_name(name):
            errors.append(NativeEventError(index, field, f"invalid {what} name {name!r}"))
        elif name in reserved:
            errors.append(NativeEventError(index, field, f"set by the event field '{reserved[name]}'"))
        elif not isinstance(value, str):
            errors.append(NativeEventError(index, field, f"must be a string (got {_json_kind(value)})"))
        else:
            out[name] = value
    return out


# -- annotations and times -----------------------------------------------------------------


def _metadata(value: Any) -> str:
    return "" if value is None else msgspec.json.encode(value).decode()


def _lines(values: list[str] | None) -> str:
    return "\n".join(line.strip() for line in values or () if line.strip())


def _count(field: str, value: int | None) -> str:
    if value is None:
        return ""
    if value < 0:
        raise _Invalid(field, f"must not be negative (got {value})")
    return str(value)


def _times(event: NativeEvent, now: float) -> tuple[datetime, datetime | None]:
    """``(starts_at, ends_at)``: start defaults to now; ``resolve`` ends now, ``ttl`` later."""
    if event.starts_at is not None and event.startsAt is not None:
        raise _Invalid("startsAt", "give either starts_at or startsAt, not both")
    start_field = "startsAt" if event.startsAt is not None else "starts_at"
    now_dt = datetime.fromtimestamp(now, UTC)
    given = event.starts_at or event.startsAt
    try:
        starts_at = now_dt if given is None else given.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _Invalid(start_field, "is out of the range of dates") from None
    ttl = None if event.ttl is None else _ttl(event.ttl)
    if event.resolve:
        if now_dt < starts_at:
            raise _Invalid(start_field, "is after the time the event resolves (now)")
        return starts_at, now_dt
    if ttl is None:
        return starts_at, None
    try:
        ends_at = now_dt + timedelta(seconds=ttl)
    except (OverflowError, ValueError):
        raise _Invalid("ttl", "is too large: the alert would end after the year 9999") from None
    if ends_at < starts_at:
        raise _Invalid("ttl", f"ends the alert before its start ({starts_at.isoformat()})")
    return starts_at, ends_at


def _ttl(value: Number) -> float:
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(_parse_number(text)) if _NUMBER_RE.fullmatch(text) else Duration.parse(text)
        except ValueError:
            raise _Invalid(
                "ttl", f"must be a number of seconds or a duration such as '15m' (got {value!r})"
            ) from None
    else:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise _Invalid("ttl", "must be a finite number")
    if seconds <= 0:
        raise _Invalid("ttl", "must be greater than zero")
    return seconds


# -- values --------------------------------------------------------------------------------


def _text(value: str | None) -> str:
    return (value or "").strip()


def _json_kind(value: Any) -> str:
    """What a decoded JSON value is, as an error message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"


def _parse_number(text: str) -> int | float:
    return int(text) if _INT_RE.fullmatch(text) else float(text)


def _number(field: str, value: Number | None) -> str:
    """A number as an annotation: ``92.0`` -> ``"92"``, ``92.5`` -> ``"92.5"``; "" when not given."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER_RE.fullmatch(text):
            raise _Invalid(field, f"must be a number (got {value!r})")
        value = _parse_number(text)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise _Invalid(field, "must be a finite number")
    return str(int(value)) if value.is_integer() else repr(value)


def _url(field: str, value: str | None) -> str:
    """An http(s) URL with a host, or "" when not given."""
    url = _text(value)
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise _Invalid(field, f"must be an http(s) URL (got {value!r})")
    return url


def event_field(field: str) -> str:
    """A field of the alert a native event became, named as the event's field where one set it:
    ``labels.resource`` -> ``resource``, ``annotations.summary`` -> ``title``."""
    kind, _, name = field.partition(".")
    fields = _LABEL_FIELDS if kind == "labels" else _ANNOTATION_FIELDS if kind == "annotations" else {}
    return fields.get(name, field)
