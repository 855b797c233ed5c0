"""Secrets kept in files: the ``*_file`` config fields (``bearer_token_file``, ``url_file``...).

A file is read each time its secret is needed, not at load, so a secret can be
rotated without a reload. Surrounding whitespace (the usual trailing newline)
is stripped. A file that cannot be read is a :class:`SecretFileError` whose
message names the config field and the file, never what the file holds; each
caller turns it into its own error (a failed delivery, a failed remediation).
"""

from __future__ import annotations

from pathlib import Path

from tocsin.config.types import URL, Secret

__all__ = ["SecretFileError", "read_secret_file", "read_url_file"]


class SecretFileError(Exception):
    """A ``*_file`` secret that cannot be read; the message starts with the field's name."""


def read_secret_file(path: str, field: str) -> Secret:
    """The secret in ``path`` (UTF-8, stripped), read now; ``field`` names it in errors."""
    try:
        return Secret(Path(path).read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise SecretFileError(f"{field}: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SecretFileError(f"{field}: cannot read {path}: it is not UTF-8 text") from None


def read_url_file(path: str, field: str) -> URL:
    """The http(s) URL in ``path``, read now. The URL is never echoed: it may carry a token."""
    text = read_secret_file(path, field)
    try:
        return URL.parse(text)
    except ValueError:
        raise SecretFileError(f"{field}: {path} does not hold an http(s) URL") from None
