"""Remediation kinds contributed by plugins (see ``tocsin_remediation_kinds``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RemediationKind"]


@dataclass(frozen=True)
class RemediationKind:
    name: str
    config: type
    run: Callable[..., Awaitable[Any]]
