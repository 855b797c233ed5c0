"""structlog, configured once: JSON lines off a terminal, console on one (in colour
unless ``NO_COLOR`` is set)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import msgspec
import structlog
from aiohttp.http_exceptions import HttpProcessingError

from tocsin.core.terminal import colour_wanted

__all__ = ["configure_logging"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def _json(obj: Any, **_: Any) -> str:
    return msgspec.json.encode(obj, enc_hook=repr).decode()


class _MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse (a header line over 8190 bytes, a bad
    method, a broken chunk) as an error with a traceback whose message quotes the client's
    bytes. This logs one line instead, naming the client's address and the kind of error
    but none of what it sent (the client got its 400 already)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        structlog.get_logger("tocsin.web").info(
            "malformed request refused", client=str(args[0]) if args else None,
            error=type(exc).__name__, status=exc.code)
        return False


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        # Colour only on a terminal without NO_COLOR: `console` chosen for a file or the
        # journal gets plain lines.
        structlog.dev.ConsoleRenderer(colors=colour_wanted(sys.stderr)) if console
        else structlog.processors.JSONRenderer(serializer=_json)
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if not console:
        processors.append(structlog.processors.format_exc_info)
    processors.append(renderer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries that use the standard logging module go to the same stream.
    logging.basicConfig(level=max(_LEVELS[level], logging.WARNING), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _MalformedRequests) for f in server.filters):
        server.addFilter(_MalformedRequests())
