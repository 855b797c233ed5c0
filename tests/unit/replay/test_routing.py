"""The part of a config the runtime records at each load: recorded at start and at a
reload, free of secrets and of what a replay does not act on, and loaded back as it ran."""

from __future__ import annotations

import json

from tocsin.core.clock import FakeClock
from tocsin.replay.routing import config_hash, from_config, from_load
from tocsin.testing.harness import make_config, running

CONFIG = """
route:
  receiver: ops
  group_by: [alertname]
  routes:
    - matchers: ['team="db"']
      receiver: db
      escalation_policy: db
      mute_time_intervals: [night]
inhibit_rules:
  - source_matchers: ['alertname="DcDown"']
    target_matchers: ['severity="warning"']
time_intervals:
  - name: night
    time_intervals: [{times: [{start_time: "00:00", end_time: "06:00"}]}]
escalation_policies:
  - name: db
    levels: [{after: 0s, receivers: [db]}]
receivers:
  - name: ops
    webhook_configs: [{url: "http://127.0.0.1:9/hook?token=hunter2", send_resolved: true}]
  - name: db
    webhook_configs: [{url: "http://127.0.0.1:9/db", send_resolved: false}, {url: "http://127.0.0.1:9/db2"}]
"""


async def test_the_runtime_records_the_config_at_start_and_at_each_reload(tmp_path):
    clock = FakeClock(start=1_700_000_000.0)
    async with running(CONFIG, tmp_path, clock=clock) as rt:
        clock.advance(60)
        changed = CONFIG.replace("group_by: [alertname]", "group_by: [alertname, team]")
        await rt.reload(make_config(changed))
        loads = await rt.store.config_loads(clock.now() + 1)
    assert [(c.reason, c.loaded_at, c.hash) for c in loads] == [
        ("start", 1_700_000_000.0, config_hash(CONFIG)), ("reload", 1_700_000_060.0, config_hash(changed))]
    assert "hunter2" not in loads[0].routing
    routing = json.loads(loads[0].routing)
    assert "escalation_policy" not in routing["route"]["routes"][0]
    assert routing["integrations"] == {"ops": [["webhook[0]", True]], "db": [["webhook[0]", False],
                                                                            ["webhook[1]", True]]}


async def test_a_recorded_config_routes_and_mutes_as_the_one_that_ran(tmp_path):
    clock = FakeClock(start=1_700_000_000.0)
    async with running(CONFIG, tmp_path, clock=clock) as rt:
        [load] = await rt.store.config_loads(clock.now() + 1)
    ran, back = from_config(make_config(CONFIG)), from_load(load)
    assert back.hash == ran.hash
    assert back.integrations == ran.integrations
    for labels in ({"alertname": "X", "team": "db"}, {"alertname": "Y"}):
        assert [(r.id, r.receiver, r.opts.mute_time_intervals) for r in back.config.route.match(labels)] \
            == [(r.id, r.receiver, r.opts.mute_time_intervals) for r in ran.config.route.match(labels)]
    assert back.config.document.inhibit_rules == ran.config.document.inhibit_rules
    assert back.config.time_intervals["night"].contains(1_700_006_400.0 + 3600)  # 01:00 UTC
