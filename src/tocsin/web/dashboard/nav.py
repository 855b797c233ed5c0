"""The dashboard's navigation: its one list, in the order shown."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NAV", "NavItem"]


@dataclass(frozen=True, slots=True)
class NavItem:
    #: What a page passes to ``render.page`` to be marked current.
    key: str
    title: str
    path: str


NAV: tuple[NavItem, ...] = (
    NavItem("alerts", "Alerts", "/alerts"),
    NavItem("silences", "Silences", "/silences"),
    NavItem("oncall", "On call", "/oncall"),
    NavItem("stats", "Stats", "/stats"),
    NavItem("routes", "Routes", "/routes"),
    NavItem("status", "Status", "/status"),
)
