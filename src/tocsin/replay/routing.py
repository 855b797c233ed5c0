"""What a replay needs of a config: its routing tree, inhibition rules, time intervals,
and each receiver's integrations (their names and ``send_resolved``), no more.

The daemon records this part of every config it puts in force (:func:`routing_json`,
with the hash of the whole text): it holds no secret (receivers are reduced to the names
of their integrations, routes lose their escalation policies and remediations), and it
loads again without the plugins or environment the daemon had (:func:`from_load`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
import yaml

from tocsin.config.document import Config, load_config
from tocsin.store import ConfigLoad, StorageError, Store

__all__ = ["Routing", "config_hash", "from_config", "from_load", "record_config", "routing_json"]

log = structlog.get_logger("tocsin.replay")

#: The config's top-level keys that decide routing and muting.
_KEYS = ("route", "inhibit_rules", "time_intervals", "mute_time_intervals")
#: Keys of a route node a replay does not act on (escalation and remediation are not replayed).
_ROUTE_DROPPED = ("escalation_policy", "remediations")


def config_hash(text: str) -> str:
    """A short hash of a config's text (the one replicas compare)."""
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Routing:
    """One config as a replay runs it: ``config`` for the routing tree, inhibition rules
    and time intervals; ``integrations`` by receiver, each (name, send_resolved)."""

    hash: str
    config: Config
    integrations: Mapping[str, tuple[tuple[str, bool], ...]]


def _integrations(config: Config) -> dict[str, list[list[Any]]]:
    return {name: [[i.name, bool(i.config.send_resolved)] for i in spec.integrations]
            for name, spec in config.receivers.items()}


def _route_node(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: v for k, v in node.items() if k not in _ROUTE_DROPPED}
    if isinstance(out.get("routes"), list):
        out["routes"] = [_route_node(child) for child in out["routes"]]
    return out


def routing_json(config: Config) -> str:
    """The routing part of ``config`` as JSON (what a :class:`ConfigLoad` holds)."""
    data = yaml.safe_load(config.original) if config.original else None
    if not isinstance(data, dict):
        raise ValueError("the config has no text to record")
    doc = {k: data[k] for k in _KEYS if k in data}
    doc["route"] = _route_node(doc.get("route"))
    doc["integrations"] = _integrations(config)
    return json.dumps(doc, default=str, sort_keys=True)


def from_config(config: Config) -> Routing:
    """A config loaded from its file (every check made, every plugin's kinds known)."""
    return Routing(hash=config_hash(config.original), config=config, integrations={
        name: tuple((i.name, bool(i.config.send_resolved)) for i in spec.integrations)
        for name, spec in config.receivers.items()})


def from_load(load: ConfigLoad) -> Routing:
    """A config as the daemon recorded it; ValueError when it does not load any more."""
    from tocsin.config.document import ConfigError

    doc = json.loads(load.routing)
    integrations = doc.pop("integrations", {})
    doc["receivers"] = [{"name": name} for name in integrations]
    try:
        config = load_config(json.dumps(doc), {}, source=f"config {load.hash} of {load.loaded_at:.0f}")
    except ConfigError as exc:
        raise ValueError(exc.render()) from None
    return Routing(hash=load.hash, config=config, integrations={
        name: tuple((str(n), bool(s)) for n, s in found) for name, found in integrations.items()})


async def record_config(store: Store, config: Config, now: float, reason: str, *,
                        leading: bool = True) -> None:
    """Record ``config`` as put in force at ``now`` (``start`` or ``reload``), by the replica
    that leads (the one whose groups notify). A failure is logged: it costs only the replay
    of what follows under this config, never the load."""
    if not leading:
        return
    try:
        load = ConfigLoad(hash=config_hash(config.original), loaded_at=now, reason=reason,
                          routing=routing_json(config))
        await store.save_config_load(load)
    except (StorageError, ValueError, yaml.YAMLError) as exc:
        log.warning("config in force not recorded: tocsin replay will not know it", error=str(exc))
