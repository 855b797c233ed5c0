"""Skipping the flushes that cannot change anything changes nothing: a day of varied
history (reminders, acknowledgements, silences, inhibition, a time interval, receivers
with and without send_resolved, a reload) replays to the same notifications, at the same
times, with and without the skipping, and the skipping skips most ticks."""

from __future__ import annotations

import random

from tocsin.config.server import parse_storage
from tocsin.core.records import HistoryEvent, Incident, Silence, SilenceMatcher
from tocsin.incidents.plan import new_id
from tocsin.replay import quiet
from tocsin.replay.routing import config_hash, routing_json
from tocsin.replay.run import Window, _at
from tocsin.store import ConfigLoad
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing.harness import make_config

START = 1_700_006_400.0  # 2023-11-15 00:00 UTC
DAY = 86400.0

CONFIG = """
route:
  receiver: ops
  group_by: [alertname, team]
  group_wait: 30s
  group_interval: 2m
  repeat_interval: 20m
  routes:
    - matchers: ['team="db"']
      receiver: db
    - matchers: ['team="web"']
      receiver: web
      active_time_intervals: [office]
    - matchers: ['team="net"']
      receiver: net
      group_by: ['...']
inhibit_rules:
  - source_matchers: ['alertname="DcDown"']
    target_matchers: ['severity="warning"']
    equal: [dc]
time_intervals:
  - name: office
    time_intervals: [{times: [{start_time: "08:00", end_time: "18:30"}]}]
receivers:
  - name: ops
    webhook_configs: [{url: "http://127.0.0.1:9/ops"}]
  - name: db
    webhook_configs: [{url: "http://127.0.0.1:9/db", send_resolved: false}, {url: "http://127.0.0.1:9/db2"}]
  - name: web
    webhook_configs: [{url: "http://127.0.0.1:9/web"}]
  - name: net
    webhook_configs: [{url: "http://127.0.0.1:9/net", send_resolved: false}]
"""
RELOADED = CONFIG.replace("group_interval: 2m", "group_interval: 3m")


def history(rng: random.Random, n: int) -> list[tuple[Incident, list[HistoryEvent]]]:
    out = []
    for i in range(n):
        fired = START + rng.uniform(0, DAY)
        labels = {"alertname": rng.choice(("A", "B", "C", "DcDown")),
                  "team": rng.choice(("db", "web", "net", "x")),
                  "severity": rng.choice(("warning", "critical")), "dc": rng.choice(("a", "b")),
                  "instance": str(rng.randrange(5))}
        ended = fired + rng.choice((20.0, 300.0, 3000.0, 20000.0))
        inc = Incident(id=new_id(fired), fingerprint=f"{i:016x}", labels=labels, fired_at=fired,
                       last_seen=fired, starts_at=fired, state="resolved", resolved_at=ended)
        rows = [HistoryEvent(at=fired, alert_id=inc.id, fingerprint=inc.fingerprint, kind="fired",
                             detail={"starts_at": fired})]
        if rng.random() < 0.2:
            rows.append(HistoryEvent(at=fired + 600, alert_id=inc.id, fingerprint=inc.fingerprint,
                                     kind="acknowledged"))
        out.append((inc, rows))
    return out


async def build(path, reloaded: str = RELOADED) -> None:
    rng = random.Random(3)
    store = SQLiteStore(path)
    await store.open()
    try:
        for at, text in ((START - 60, CONFIG), (START + DAY / 2, reloaded)):
            await store.save_config_load(ConfigLoad(hash=config_hash(text), loaded_at=at, reason="start",
                                                    routing=routing_json(make_config(text))))
        made = history(rng, 400)
        await store.save(incidents=[inc for inc, _ in made],
                         history=sorted((r for _, rows in made for r in rows), key=lambda r: r.at))
        await store.save_silences([
            Silence(id=f"s{k}", matchers=(SilenceMatcher("alertname", name),), starts_at=START + k * 7000,
                    ends_at=START + k * 7000 + 5000, updated_at=START)
            for k, name in enumerate(("A", "B", "C", "A", "B"))])
    finally:
        await store.close()


async def test_skipping_no_op_flushes_changes_no_notification(tmp_path, monkeypatch):
    path = tmp_path / "t.db"
    await build(path)
    where, window = parse_storage(str(path)), Window(START - 1, START + DAY + 3600)
    dues = {"ticks": 0, "skipped": 0}
    real_quiet = quiet.QuietDispatcher._quiet

    def counting(self, gid, group, now):
        dues["ticks"] += 1
        found = real_quiet(self, gid, group, now)
        dues["skipped"] += found
        return found

    monkeypatch.setattr(quiet.QuietDispatcher, "_quiet", counting)
    skipping, _ = await _at(where, None, window)
    monkeypatch.setattr(quiet.QuietDispatcher, "_quiet", lambda self, gid, group, now: False)
    every, _ = await _at(where, None, window)

    assert len(every.sent) > 500
    # Groups due at the same instant may flush in another order (their timers were set
    # in another order); what each sends, and when, is the same.
    def key(s):
        return (s.at, s.receiver, s.integration, s.group_key)

    assert sorted(skipping.sent, key=key) == sorted(every.sent, key=key)
    assert skipping.muted == every.muted
    assert {k.split(":")[0] for why in every.muted.values() for k in why} == {"silence", "inhibition",
                                                                               "time_interval"}
    assert len(set(every.configs)) == 2
    assert dues["skipped"] > 1000, dues  # and a skipped tick often parks the group for many more


async def test_a_time_interval_redefined_by_a_reload_is_asked_anew(tmp_path, monkeypatch):
    """The time-interval verdicts a replay keeps (until an interval's next edge) are
    dropped at a reload that gives the interval of the same name other hours: the replay
    matches one that asks the muter at every flush and skips nothing."""
    from tocsin.mute import timeintervals
    from tocsin.replay import sim

    path = tmp_path / "t.db"
    await build(path, CONFIG.replace('start_time: "08:00", end_time: "18:30"',
                                     'start_time: "13:00", end_time: "23:00"'))
    where, window = parse_storage(str(path)), Window(START - 1, START + DAY + 3600)
    kept, _ = await _at(where, None, window)
    monkeypatch.setattr(quiet.QuietDispatcher, "_quiet", lambda self, gid, group, now: False)

    def every_time(self, alert, route, now):
        return timeintervals.tocsin_mute(self.facade, alert, route, now)

    monkeypatch.setattr(sim.Simulation, "_interval_mute", every_time)
    asked, _ = await _at(where, None, window)

    def key(s):
        return (s.at, s.receiver, s.integration, s.group_key)

    assert len(asked.sent) > 500
    assert sorted(kept.sent, key=key) == sorted(asked.sent, key=key)
    assert kept.muted == asked.muted
