"""The flush's hook stages (tocsin.runtime_flush): planned once, answering as calling
every implementation would."""

from __future__ import annotations

from typing import Any

from tocsin import hookimpl
from tocsin.core.clock import FakeClock
from tocsin.core.models import Notification
from tocsin.testing import NotificationRecorder, advance, make_config, post, remediation_runs, running

T0 = 1_700_000_000.0


def config(remediate: bool) -> str:
    names = "[restart]" if remediate else "[]"
    return f"""
route:
  receiver: ops
  group_by: [alertname, instance]
  group_wait: 30s
  group_interval: 1m
  routes:
    - matchers: ['alertname="AppDown"']
      receiver: ops
      remediations: {names}
receivers:
  - name: ops
remediations:
  - name: restart
    kind: webhook
    url: http://127.0.0.1:9/never
    dry_run: true
"""


class Remediated:
    """A plugin's own ``tocsin_remediate``: called for every flush with firing alerts."""

    def __init__(self) -> None:
        self.groups: list[str] = []

    @hookimpl
    def tocsin_remediate(self, runtime: Any, notification: Notification) -> None:
        self.groups.append(notification.group_key)


async def test_the_engine_is_asked_only_for_routes_that_name_a_remediation(tmp_path, monkeypatch):
    async with running(config(False), tmp_path, clock=FakeClock(T0)) as rt:
        asked: list[str] = []
        real = rt.remediator.on_flush

        async def on_flush(n: Notification) -> None:
            asked.append(n.route_id)
            await real(n)

        monkeypatch.setattr(rt.remediator, "on_flush", on_flush)
        await post(rt, {"labels": {"alertname": "AppDown", "instance": "a"}},
                   {"labels": {"alertname": "Other", "instance": "b"}})
        await advance(rt, 31)
        assert asked == []  # no route names a remediation: the engine would do nothing
        assert remediation_runs(rt) == []

        # A reload that makes the sub-route name one: its flushes reach the engine again.
        await rt.reload(make_config(config(True), rt.hooks))
        await post(rt, {"labels": {"alertname": "AppDown", "instance": "c"}})
        await advance(rt, 31)
        sub = next(r for r in rt.config.route.walk() if r.opts.remediations)
        assert sub.id in asked
        assert all(route_id == sub.id for route_id in asked)
        runs = remediation_runs(rt)
        assert runs
        assert all(r.remediation == "restart" for r in runs)


async def test_a_plugins_remediate_hook_is_called_for_every_firing_flush(tmp_path):
    plugin = Remediated()
    recorder = NotificationRecorder()
    async with running(config(False), tmp_path, plugins=[plugin, recorder], clock=FakeClock(T0)) as rt:
        await post(rt, {"labels": {"alertname": "AppDown", "instance": "a"}},
                   {"labels": {"alertname": "Other", "instance": "b"}})
        await advance(rt, 31)
        assert sorted(plugin.groups) == sorted(n.group_key for n in recorder.notifications)
        assert len(plugin.groups) == 2


class Failing:
    """A ``tocsin_notify`` that fails: the group keeps its resolved alerts."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.calls = 0

    @hookimpl
    async def tocsin_notify(self, runtime: Any, notification: Notification) -> Any:
        self.calls += 1
        if self.how == "raise":
            raise RuntimeError("down")
        return False


async def test_notify_answers_as_the_hooks_say(tmp_path):
    for how in ("raise", "false"):
        plugin = Failing(how)
        async with running(config(False), tmp_path, plugins=[plugin], clock=FakeClock(T0),
                           db_name=f"{how}.db") as rt:
            n = Notification(receiver="ops", group_key="g", group_labels={}, alerts=[], now=T0)
            assert await rt.flush_hooks.notify(n) is False  # delivery answers True; the plugin not
            assert plugin.calls == 1
