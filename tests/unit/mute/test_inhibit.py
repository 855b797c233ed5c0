"""Inhibition: Alertmanager's rules for who mutes whom."""

from __future__ import annotations

import pytest

from tocsin.config.document import ConfigError
from tocsin.testing import NotificationRecorder, advance, make_config, post, running
from tocsin.web.amv2.alerts import gettable

BASE = """
route:
  receiver: r
  group_by: ['...']
  group_wait: 10s
  group_interval: 1m
receivers:
  - name: r
inhibit_rules:
{rules}
"""

CRIT_MUTES_WARN = """
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname, instance]
"""


def alert(name="Disk", severity="warning", **labels):
    return {"labels": {"alertname": name, "severity": severity, **labels}}


async def inhibited(rt, labels: dict) -> list[str]:
    from tocsin.core.labels import fingerprint

    a = rt.alerts.get(fingerprint(labels))
    assert a is not None
    return gettable(rt, a, rt.clock.now())["status"]["inhibitedBy"]


async def test_firing_source_inhibits_target_with_equal_labels(tmp_path):
    async with running(BASE.format(rules=CRIT_MUTES_WARN), tmp_path) as rt:
        await post(rt, alert(severity="critical", instance="a"), alert(instance="a"), alert(instance="b"))
        crit = rt.alerts.get(next(a.fingerprint for a in rt.alerts if a.labels["severity"] == "critical"))
        assert await inhibited(rt, alert(instance="a")["labels"]) == [crit.fingerprint]
        assert await inhibited(rt, alert(instance="b")["labels"]) == []  # instance differs
        assert await inhibited(rt, alert(severity="critical", instance="a")["labels"]) == []


async def test_resolved_source_does_not_inhibit(tmp_path):
    async with running(BASE.format(rules=CRIT_MUTES_WARN), tmp_path) as rt:
        now = rt.clock.now()
        from tocsin.core.timefmt import format_ts
        await post(rt, {**alert(severity="critical", instance="a"),
                        "startsAt": format_ts(now - 600), "endsAt": format_ts(now - 60)},
                   alert(instance="a"))
        assert await inhibited(rt, alert(instance="a")["labels"]) == []


async def test_source_stops_inhibiting_when_it_resolves_by_timeout(tmp_path):
    async with running(BASE.format(rules=CRIT_MUTES_WARN), tmp_path) as rt:
        await post(rt, alert(severity="critical", instance="a"))
        await advance(rt, 200)
        await post(rt, alert(instance="a"))  # the target keeps being re-posted
        assert await inhibited(rt, alert(instance="a")["labels"])
        await advance(rt, 120)  # the source, last posted at t=0, resolves at 5m
        await post(rt, alert(instance="a"))
        assert await inhibited(rt, alert(instance="a")["labels"]) == []


async def test_a_restart_inhibits_as_before_from_the_alerts_it_loads(tmp_path):
    async with running(BASE.format(rules=CRIT_MUTES_WARN), tmp_path) as rt:
        await post(rt, alert(severity="critical", instance="a"), alert(instance="a"), alert(instance="b"))
    async with running(BASE.format(rules=CRIT_MUTES_WARN), tmp_path) as rt:
        crit = next(a.fingerprint for a in rt.alerts if a.labels["severity"] == "critical")
        assert await inhibited(rt, alert(instance="a")["labels"]) == [crit]
        assert await inhibited(rt, alert(instance="b")["labels"]) == []


async def test_label_missing_on_both_sides_counts_as_equal(tmp_path):
    async with running(BASE.format(rules=CRIT_MUTES_WARN), tmp_path) as rt:
        await post(rt, alert(severity="critical"), alert())  # neither has instance
        assert await inhibited(rt, alert()["labels"]) != []
        await post(rt, alert(instance="x"))  # missing on the source only: not equal
        assert await inhibited(rt, alert(instance="x")["labels"]) == []


async def test_alert_matching_both_sides_does_not_inhibit_itself_or_its_kind(tmp_path):
    rule = """
  - source_matchers: ['alertname="Disk"']
    target_matchers: ['alertname="Disk"']
    equal: [cluster]
"""
    async with running(BASE.format(rules=rule), tmp_path) as rt:
        await post(rt, alert(cluster="c1", instance="a"), alert(cluster="c1", instance="b"))
        assert await inhibited(rt, alert(cluster="c1", instance="a")["labels"]) == []
        assert await inhibited(rt, alert(cluster="c1", instance="b")["labels"]) == []


async def test_two_sided_target_can_be_inhibited_by_a_one_sided_source(tmp_path):
    rule = """
  - source_matchers: ['severity=~"critical|warning"']
    target_matchers: ['severity="warning"']
"""
    async with running(BASE.format(rules=rule), tmp_path) as rt:
        await post(rt, alert(severity="critical"), alert(severity="warning"))
        assert await inhibited(rt, alert(severity="warning")["labels"]) != []


async def test_legacy_match_forms(tmp_path):
    rule = """
  - source_match: {severity: critical}
    target_match_re: {severity: "warn.*"}
    equal: [alertname]
"""
    async with running(BASE.format(rules=rule), tmp_path) as rt:
        await post(rt, alert(severity="critical"), alert(severity="warning"))
        assert await inhibited(rt, alert(severity="warning")["labels"]) != []


async def test_inhibited_alert_is_not_notified_and_is_after_the_source_resolves(tmp_path):
    rec = NotificationRecorder()
    async with running(BASE.format(rules=CRIT_MUTES_WARN), tmp_path, plugins=[rec]) as rt:
        await post(rt, alert(severity="critical", instance="a"), alert(instance="a"))
        await advance(rt, 10)
        sent = [n.alerts[0].labels["severity"] for n in rec.notifications]
        assert sent == ["critical"]
        now = rt.clock.now()
        from tocsin.core.timefmt import format_ts
        await post(rt, {**alert(severity="critical", instance="a"), "endsAt": format_ts(now)})
        await advance(rt, 60)
        sev = sorted((n.alerts[0].labels["severity"], n.alerts[0].status(n.now)) for n in rec.notifications)
        assert ("warning", "firing") in sev
        assert ("critical", "resolved") in sev


async def test_reload_rebuilds_the_rules(tmp_path):
    async with running(BASE.format(rules=CRIT_MUTES_WARN), tmp_path) as rt:
        await post(rt, alert(severity="critical", instance="a"), alert(instance="a"))
        assert await inhibited(rt, alert(instance="a")["labels"]) != []
        await rt.reload(make_config(BASE.format(rules="  []")))
        assert await inhibited(rt, alert(instance="a")["labels"]) == []


def test_invalid_rules_name_their_path():
    bad = """
  - source_matchers: ['severity=~"(crit"']
    equal: [bad-name]
    target_match: {"also bad": x}
"""
    with pytest.raises(ConfigError) as err:
        make_config(BASE.format(rules=bad))
    paths = {p.path for p in err.value.problems}
    assert "inhibit_rules[0].source_matchers[0]" in paths
    assert "inhibit_rules[0].equal[0]" in paths or "inhibit_rules[0].target_match.also bad" in paths
