"""Value types used in config Structs, and the hook that decodes them.

Channel and remediation plugins use these in their own config Structs so a
duration, a secret or a matcher list reads the same everywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import msgspec

from tocsin.core.durations import Duration
from tocsin.core.matchers import Matcher, MatcherError, compile_anchored, parse_matchers

__all__ = ["URL", "ConfigBase", "Duration", "MatcherList", "Regex", "Secret", "dec_hook", "expand_env"]


class Secret(str):
    """A string that never shows itself in reprs, logs or dumps."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<secret>"


class URL(str):
    """An absolute http(s) URL."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str) -> URL:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            # The value is not echoed: URLs carry tokens (a Slack webhook, user:password@).
            scheme = parts.scheme if parts.scheme.isalnum() and len(parts.scheme) <= 10 else ""
            got = f"scheme {scheme!r}" if scheme else "no scheme"
            host = "a host" if parts.netloc else "no host"
            raise ValueError(f"invalid URL (not shown, it may hold a secret): expected http:// or "
                             f"https:// and a host, got {got} and {host}")
        return cls(text)


class MatcherList(tuple[Matcher, ...]):
    """The matchers of one ``matchers:`` entry (which may hold several: ``{a="b",c="d"}``)."""

    __slots__ = ()


class Regex(str):
    """A regular expression, anchored at both ends when used."""

    __slots__ = ()

    @property
    def compiled(self) -> re.Pattern[str]:
        return compile_anchored(self)


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str) -> str:
    """``${NAME}`` replaced by the environment variable NAME (``$${`` stays a literal ``${``).
    Only secret and URL fields are expanded, so a secret need never be in the file."""
    def sub(m: re.Match[str]) -> str:
        value = os.environ.get(m[1])
        if value is None:
            raise ValueError(f"environment variable {m[1]} is not set")
        return value

    if "${" not in text:
        return text
    parts = text.split("$${")
    return "${".join(_ENV_REF.sub(sub, part) for part in parts)


def _duration(obj: Any) -> Duration:
    if isinstance(obj, int) and obj == 0:
        return Duration(0)
    if not isinstance(obj, str):
        raise TypeError(f"expected a duration such as 30s or 5m, got {obj!r}")
    return Duration.parse(obj)


def _matcher_list(obj: Any) -> MatcherList:
    if not isinstance(obj, str):
        raise TypeError(f"expected a matcher string such as 'severity=\"critical\"', got {obj!r}")
    try:
        return MatcherList(parse_matchers(obj))
    except MatcherError as exc:
        raise ValueError(str(exc)) from None


def _regex(obj: Any) -> Regex:
    if not isinstance(obj, str):
        obj = str(obj)
    try:
        compile_anchored(obj)
    except MatcherError as exc:
        raise ValueError(str(exc)) from None
    return Regex(obj)


def _secret(obj: Any) -> Secret:
    if not isinstance(obj, str):
        raise TypeError("expected a string")
    return Secret(expand_env(obj))


def _url(obj: Any) -> URL:
    if not isinstance(obj, str):
        raise TypeError("expected a URL string")
    expanded = expand_env(obj)
    try:
        return URL.parse(expanded)
    except ValueError:
        if expanded != obj:  # never echo what came from the environment
            raise ValueError("not a URL after expanding ${...}: want http(s):// and a host") from None
        raise


_DECODERS: dict[type, Callable[[Any], Any]] = {
    Duration: _duration, MatcherList: _matcher_list, Regex: _regex, Secret: _secret, URL: _url,
}


def dec_hook(typ: type, obj: Any) -> Any:
    # Types elsewhere (time interval ranges...) decode themselves.
    decoder = _DECODERS.get(typ) or getattr(typ, "from_config", None)
    if decoder is None:
        raise NotImplementedError(f"no decoder for {typ!r}")
    return decoder(obj)


class ConfigBase(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The base of every config Struct: unknown keys are errors, fields by name only."""
