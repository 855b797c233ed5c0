"""The mute verdicts kept between requests answer what the mute hooks answer, at every change."""

from __future__ import annotations

from tocsin import hookimpl
from tocsin.core.mute import MuteReason
from tocsin.core.records import Silence, SilenceMatcher
from tocsin.core.timefmt import format_ts
from tocsin.testing.harness import advance, make_config, post, running
from tocsin.web import muting

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
receivers:
  - name: default
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [cluster]
"""


def alert(name: str, severity: str, cluster: str = "c1", ends_in: float = 0.0, now: float = 0.0) -> dict:
    out: dict = {"labels": {"alertname": name, "severity": severity, "cluster": cluster}}
    if ends_in:
        out["endsAt"] = format_ts(now + ends_in)
    return out


def verdicts(rt) -> dict[str, list[MuteReason]]:
    """Each alert's verdict from the cache, checked against the hooks' own answer."""
    now = rt.clock.now()
    out = {}
    for a in rt.alerts:
        kept = muting.muted(rt, a, now)
        assert kept == rt.muted(a, None, now), a.labels
        out[a.labels["alertname"]] = kept
    return out


def kinds(v: dict[str, list[MuteReason]]) -> dict[str, list[str]]:
    return {name: sorted(r.kind for r in reasons) for name, reasons in v.items()}


async def test_the_kept_verdicts_follow_silences_inhibitions_time_and_reloads(tmp_path):
    async with running(CONFIG, tmp_path) as rt:
        now = rt.clock.now()
        await post(rt, alert("Disk", "warning"), alert("Cpu", "info"))
        assert kinds(verdicts(rt)) == {"Disk": [], "Cpu": []}
        # A source alert arrives: the inhibitor's index changes after the alert is held.
        await post(rt, alert("Down", "critical", ends_in=600, now=now))
        assert kinds(verdicts(rt)) == {"Disk": ["inhibition"], "Cpu": [], "Down": []}
        # A silence now, and one that starts later.
        await rt.silences.set(Silence(matchers=(SilenceMatcher("alertname", "Cpu"),),
                                      starts_at=now, ends_at=now + 300), now)
        await rt.silences.set(Silence(matchers=(SilenceMatcher("alertname", "Down"),),
                                      starts_at=now + 120, ends_at=now + 3600), now)
        assert kinds(verdicts(rt)) == {"Disk": ["inhibition"], "Cpu": ["silence"], "Down": []}
        await advance(rt, 150)  # the pending silence starts
        assert kinds(verdicts(rt)) == {"Disk": ["inhibition"], "Cpu": ["silence"], "Down": ["silence"]}
        await advance(rt, 200)  # the first silence ends
        assert kinds(verdicts(rt)) == {"Disk": ["inhibition"], "Cpu": [], "Down": ["silence"]}
        await advance(rt, 300)  # the source alert's end passes: it inhibits no more
        assert kinds(verdicts(rt))["Disk"] == []
        # The inhibitor forgets a source (as the sweep does, before the alert goes).
        await post(rt, alert("Down", "critical"))
        assert kinds(verdicts(rt))["Disk"] == ["inhibition"]
        down = next(a for a in rt.alerts if a.labels["alertname"] == "Down")
        rt.inhibitor.forget(down.fingerprint, down.labels)
        assert kinds(verdicts(rt))["Disk"] == []
        # A silence expired by hand.
        sid = rt.silences.query([], rt.clock.now())[0].id
        await rt.silences.expire(sid, rt.clock.now())
        verdicts(rt)
        # A reload without the inhibition rule.
        await post(rt, alert("Outage", "critical"))
        assert kinds(verdicts(rt))["Disk"] == ["inhibition"]
        await rt.reload(make_config(CONFIG.split("inhibit_rules:")[0]))
        assert kinds(verdicts(rt))["Disk"] == []


async def test_the_hooks_are_asked_once_per_change_not_per_listing(tmp_path, monkeypatch):
    async with running(CONFIG, tmp_path) as rt:
        await post(rt, *(alert(f"A{i}", "warning") for i in range(20)))
        asked = []
        real = rt.muted
        monkeypatch.setattr(rt, "muted", lambda a, route, now: asked.append(a) or real(a, route, now))
        verdicts(rt)
        asked.clear()
        now = rt.clock.now()
        for _ in range(3):
            for a in rt.alerts:
                muting.muted(rt, a, now)
        assert asked == []
        await post(rt, alert("New", "warning"))
        muting.muted(rt, next(iter(rt.alerts)), now)
        assert len(asked) == 21  # every alert again, once


class Switch:
    """A plugin muting every alert while ``on``: state the cache cannot see change."""

    def __init__(self) -> None:
        self.on = False

    @hookimpl
    def tocsin_mute(self, runtime, alert, route, now):
        return MuteReason("killswitch", ("on",)) if self.on else None


async def test_with_a_plugins_mute_hook_nothing_is_kept(tmp_path):
    switch = Switch()
    async with running(CONFIG, tmp_path, plugins=[switch]) as rt:
        await post(rt, alert("Cpu", "info"))
        assert kinds(verdicts(rt)) == {"Cpu": []}
        switch.on = True
        assert kinds(verdicts(rt)) == {"Cpu": ["killswitch"]}
