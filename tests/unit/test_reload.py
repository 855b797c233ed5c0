"""Reload: groups come back on the new tree without re-notifying; silences survive."""

from __future__ import annotations

from tocsin.mute.silences import Silence, SilenceMatcher
from tocsin.testing import advance, make_config, post, running

CONFIG = """
route:
  receiver: r
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 1h
receivers:
  - name: r
    log_configs: [{{level: info}}]
  - name: other
    log_configs: [{{level: info}}]
{extra}
"""


async def test_reload_keeps_groups_without_renotifying(tmp_path):
    async with running(CONFIG.format(extra=""), tmp_path) as rt:
        await post(rt, {"labels": {"alertname": "A"}})
        await advance(rt, 10)
        [entry] = [e for e in rt.nflog._entries.values()]
        await rt.reload(make_config(CONFIG.format(extra="")))
        assert len(rt.dispatcher.groups) == 1
        await advance(rt, 60)
        assert list(rt.nflog._entries.values()) == [entry]  # nothing sent again
        # A new alert in the group after the reload is notified.
        await post(rt, {"labels": {"alertname": "A", "i": "2"}})
        await advance(rt, 60)
        [after] = list(rt.nflog._entries.values())
        assert len(after.firing) == 2


async def test_reload_moves_alerts_to_new_routes_and_keeps_silences(tmp_path):
    async with running(CONFIG.format(extra=""), tmp_path) as rt:
        await post(rt, {"labels": {"alertname": "A"}})
        now = rt.clock.now()
        sid = await rt.silences.set(Silence(matchers=(SilenceMatcher("alertname", "B"),),
                                            starts_at=now, ends_at=now + 3600), now)
        new = CONFIG.format(extra="").replace("  repeat_interval: 1h\n",
                                              "  repeat_interval: 1h\n  routes:\n"
                                              "    - matchers: [alertname=A]\n      receiver: other\n")
        await rt.reload(make_config(new))
        assert [g.route.receiver for g in rt.dispatcher.groups.values()] == ["other"]
        assert rt.silences.get(sid).state(rt.clock.now()) == "active"
