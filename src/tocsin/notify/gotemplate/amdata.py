"""Alertmanager 0.25's template data (``template.Data``) for Go templates: what
``.Receiver``, ``.Alerts.Firing``, ``.CommonLabels.SortedPairs``, ``.StartsAt``...
are, built from the data tocsin's templates get (:func:`tocsin.notify.templates.data`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tocsin.notify.gotemplate.gotime import GoTime
from tocsin.notify.gotemplate.values import GoStruct, StrSlice, go_method, go_params

__all__ = ["KV", "Alert", "Alerts", "Data", "Pair", "Pairs", "from_context"]


class Pair(GoStruct):
    __slots__ = ("Name", "Value")
    go_type = "template.Pair"
    go_fields = ("Name", "Value")

    def __init__(self, name: str, value: str) -> None:
        self.Name = name
        self.Value = value


class Pairs(list[Pair]):
    go_type = "template.Pairs"

    @go_method
    def Names(self) -> StrSlice:
        return StrSlice(p.Name for p in self)

    @go_method
    def Values(self) -> StrSlice:
        return StrSlice(p.Value for p in self)


class KV(dict[str, str]):
    """``template.KV``: a map of strings (a missing key reads as ``""``)."""

    go_type = "template.KV"
    zero = ""

    @go_method
    def SortedPairs(self) -> Pairs:
        """By name (Go sorts bytes: code points), ``alertname`` first."""
        keys = sorted(k for k in self if k != "alertname")
        if "alertname" in self:
            keys.insert(0, "alertname")
        return Pairs(Pair(k, self[k]) for k in keys)

    @go_method
    @go_params("[]string")
    def Remove(self, keys: list[str]) -> KV:
        drop = set(keys)
        return KV({k: v for k, v in self.items() if k not in drop})

    @go_method
    def Names(self) -> StrSlice:
        return self.SortedPairs().Names()

    @go_method
    def Values(self) -> StrSlice:
        return self.SortedPairs().Values()


def _sorted(mapping: Mapping[str, str]) -> dict[str, str]:
    # Go's sort is by UTF-8 bytes, the same order as by code points.
    return dict(sorted(mapping.items()))


class Alert(GoStruct):
    __slots__ = ("Annotations", "EndsAt", "Fingerprint", "GeneratorURL", "Labels", "StartsAt", "Status")
    go_type = "template.Alert"
    go_fields = ("Status", "Labels", "Annotations", "StartsAt", "EndsAt", "GeneratorURL", "Fingerprint")

    def __init__(self, item: Mapping[str, Any]) -> None:
        self.Status = str(item.get("status", ""))
        self.Labels = KV(_sorted(item.get("labels") or {}))
        self.Annotations = KV(_sorted(item.get("annotations") or {}))
        self.StartsAt = GoTime.parse(str(item.get("startsAt") or ""))
        self.EndsAt = GoTime.parse(str(item.get("endsAt") or ""))
        self.GeneratorURL = str(item.get("generatorURL") or "")
        self.Fingerprint = str(item.get("fingerprint") or "")


class Alerts(list[Alert]):
    go_type = "template.Alerts"

    @go_method
    def Firing(self) -> list[Alert]:
        return _AlertSlice(a for a in self if a.Status == "firing")

    @go_method
    def Resolved(self) -> list[Alert]:
        return _AlertSlice(a for a in self if a.Status == "resolved")


class _AlertSlice(list[Alert]):
    go_type = "[]template.Alert"


class Data(GoStruct):
    __slots__ = ("Alerts", "CommonAnnotations", "CommonLabels", "ExternalURL", "GroupLabels", "Receiver",
                 "Status")
    go_type = "*template.Data"
    go_fields = ("Receiver", "Status", "Alerts", "GroupLabels", "CommonLabels", "CommonAnnotations",
                 "ExternalURL")
    pointer = True

    def __init__(self, receiver: str, status: str, alerts: Iterable[Alert], group_labels: Mapping[str, str],
                 common_labels: Mapping[str, str], common_annotations: Mapping[str, str],
                 external_url: str) -> None:
        self.Receiver = receiver
        self.Status = status
        self.Alerts = Alerts(alerts)
        self.GroupLabels = KV(_sorted(group_labels))
        self.CommonLabels = KV(_sorted(common_labels))
        self.CommonAnnotations = KV(_sorted(common_annotations))
        self.ExternalURL = external_url


def from_context(context: Mapping[str, Any]) -> Data:
    """``template.Data`` from the data of tocsin's templates (``receiver``, ``status``,
    ``alerts``, ``groupLabels``, ``commonLabels``, ``commonAnnotations``, ``externalURL``);
    the receiver is already regexp-quoted there, as Alertmanager quotes it."""
    return Data(
        str(context.get("receiver", "")),
        str(context.get("status", "")),
        [Alert(a) for a in context.get("alerts") or ()],
        context.get("groupLabels") or {},
        context.get("commonLabels") or {},
        context.get("commonAnnotations") or {},
        str(context.get("externalURL", "")),
    )
