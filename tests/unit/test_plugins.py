"""Plugins: entry-point loading, disabling, and each pipeline hook doing its job."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

import tocsin.plugins
from tocsin import hookimpl, hookspecs
from tocsin.config.document import ConfigError
from tocsin.core.events import AlertReceived, GroupFlushed, NotificationSent
from tocsin.core.labels import fingerprint
from tocsin.core.mute import MuteReason
from tocsin.core.timefmt import format_ts
from tocsin.plugins import ENTRY_POINT_GROUP, PluginInfo, PluginManager, channel_kinds
from tocsin.testing import NotificationRecorder, advance, make_config, make_plugins, post, running
from tocsin.web.amv2.alerts import gettable

BUILTINS = {"dedupe", "route", "notify", "webhook", "log"}

CONFIG = """
global:
  resolve_timeout: 1h
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
receivers:
  - name: default
"""


# -- loading ---------------------------------------------------------------------------------


def test_builtins_load_through_the_entry_point_group():
    pm = PluginManager()
    pm.load_entry_points()
    infos = {i.name: i for i in pm.infos}
    assert set(infos) >= BUILTINS
    for name in BUILTINS:
        info = infos[name]
        assert info.distribution == "tocsin"
        assert info.version == tocsin.__version__
        assert info.loaded
        assert info.error is None
        assert pm.has_plugin(name)
    assert infos["webhook"].module == "tocsin.channels.webhook"
    assert infos["dedupe"].module == "tocsin.ingest.dedupe"
    assert {"webhook", "log"} <= set(channel_kinds(pm))
    # Loading twice registers nothing twice.
    pm.load_entry_points()
    assert len(pm.infos) == len(infos)


class FakeDist:
    name = "tocsin-broken"
    version = "9.9"


class FakeEntryPoint:
    def __init__(self, name: str, value: str, error: Exception | None = None, plugin=None):
        self.name = name
        self.value = value
        self.group = ENTRY_POINT_GROUP
        self.dist = FakeDist()
        self._error = error
        self._plugin = plugin

    def load(self):
        if self._error is not None:
            raise self._error
        return self._plugin


class GoodPlugin:
    @hookimpl
    def tocsin_observe(self, runtime, event):
        return None


def test_a_plugin_that_fails_to_import_is_logged_and_skipped(monkeypatch):
    good = GoodPlugin()
    eps = [
        FakeEntryPoint("broken", "tocsin_broken.plugin", ImportError("No module named 'missing'")),
        FakeEntryPoint("good", "tocsin_good", plugin=good),
    ]
    seen_groups = []

    def fake_entry_points(*, group):
        seen_groups.append(group)
        return eps

    monkeypatch.setattr(tocsin.plugins, "entry_points", fake_entry_points)
    pm = PluginManager()
    with structlog.testing.capture_logs() as logs:
        pm.load_entry_points()
    assert seen_groups == [ENTRY_POINT_GROUP]
    assert pm.infos == [
        PluginInfo("broken", "tocsin_broken.plugin", "tocsin-broken", "9.9",
                   "ImportError: No module named 'missing'"),
        PluginInfo("good", "tocsin_good", "tocsin-broken", "9.9"),
    ]
    assert not pm.infos[0].loaded
    assert not pm.has_plugin("broken")
    assert pm.get_plugin("good") is good
    errors = [e for e in logs if e["log_level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["event"] == "plugin failed to load; skipped"
    assert errors[0]["plugin"] == "broken"
    assert errors[0]["error"] == "ImportError: No module named 'missing'"


def test_disable_plugins_from_the_environment(monkeypatch):
    monkeypatch.setenv("TOCSIN_DISABLE_PLUGINS", " webhook , nonexistent")
    pm = PluginManager()
    pm.load_entry_points()
    assert not pm.has_plugin("webhook")
    assert "webhook" not in {i.name for i in pm.infos}
    assert pm.has_plugin("log")
    kinds = channel_kinds(pm)
    assert "webhook" not in kinds
    assert "log" in kinds
    config = CONFIG + "  - name: hook\n    webhook_configs:\n      - url: http://127.0.0.1:1/\n"
    with pytest.raises(ConfigError, match="no loaded plugin provides channel kind 'webhook'"):
        make_config(config, pm)


def test_disable_plugins_argument(monkeypatch):
    monkeypatch.delenv("TOCSIN_DISABLE_PLUGINS", raising=False)
    pm = PluginManager()
    pm.load_entry_points(disable=["log"])
    assert not pm.has_plugin("log")
    assert pm.has_plugin("webhook")


def test_every_hook_has_a_docstring():
    specs = {
        name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "tocsin_spec")
    }
    assert {"tocsin_enrich", "tocsin_dedupe", "tocsin_mute", "tocsin_inhibit", "tocsin_route",
            "tocsin_notify", "tocsin_observe", "tocsin_channel_kinds"} <= set(specs)
    pm = PluginManager()
    assert {n for n in dir(pm.hook) if n.startswith("tocsin_")} == set(specs)
    for name, fn in specs.items():
        doc = inspect.getdoc(fn)
        assert doc, f"{name} has no docstring"
        assert len(doc) > 40, f"{name} has no real docstring"


# -- enrich ----------------------------------------------------------------------------------


class Enricher:
    @hookimpl
    def tocsin_enrich(self, runtime, alert):
        alert.labels["region"] = "eu-1"
        alert.annotations["enriched"] = "yes"


class AsyncEnricher:
    @hookimpl
    async def tocsin_enrich(self, runtime, alert):
        alert.labels["cluster"] = "c9"


class FailingEnricher:
    @hookimpl(tryfirst=True)
    def tocsin_enrich(self, runtime, alert):
        raise RuntimeError("enricher bug")


class FailingAsyncEnricher:
    @hookimpl(tryfirst=True)
    async def tocsin_enrich(self, runtime, alert):
        raise RuntimeError("async enricher bug")


async def test_enrich_adds_a_label_before_fingerprinting(tmp_path):
    async with running(CONFIG, tmp_path, plugins=[Enricher(), AsyncEnricher()]) as rt:
        await post(rt, {"labels": {"alertname": "A"}})
        (alert,) = list(rt.alerts)
        labels = {"alertname": "A", "region": "eu-1", "cluster": "c9"}
        assert alert.labels == labels
        assert alert.annotations == {"enriched": "yes"}
        assert alert.fingerprint == fingerprint(labels)
        assert fingerprint(labels) in rt.alerts
        (row,) = await rt.store.load_alerts()
        assert row.fingerprint == fingerprint(labels)


@pytest.mark.parametrize("failing", [FailingEnricher, FailingAsyncEnricher])
async def test_a_failing_enricher_is_skipped(tmp_path, failing):
    with structlog.testing.capture_logs() as logs:
        async with running(CONFIG, tmp_path, plugins=[Enricher(), failing()]) as rt:
            result = await post(rt, {"labels": {"alertname": "A"}})
            assert (result.accepted, result.errors) == (1, [])
            (alert,) = list(rt.alerts)
            # The other enricher still ran.
            assert alert.labels == {"alertname": "A", "region": "eu-1"}
            assert alert.fingerprint == fingerprint({"alertname": "A", "region": "eu-1"})
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["enricher failed; skipped"]


# -- observe ---------------------------------------------------------------------------------


class Observer:
    def __init__(self) -> None:
        self.events: list = []

    @hookimpl
    async def tocsin_observe(self, runtime, event):
        self.events.append(event)


class FailingObserver:
    @hookimpl(tryfirst=True)
    def tocsin_observe(self, runtime, event):
        raise RuntimeError("observer bug")


async def test_observe_sees_received_flushed_and_sent(tmp_path):
    config = CONFIG.replace("  - name: default\n", "  - name: default\n    log_configs:\n      - {}\n")
    obs = Observer()
    async with running(config, tmp_path, plugins=[obs]) as rt:
        await post(rt, {"labels": {"alertname": "A"}})
        await advance(rt, 30)
    assert [type(e) for e in obs.events] == [AlertReceived, GroupFlushed, NotificationSent]
    received, flushed, sent = obs.events
    assert received.alert.labels == {"alertname": "A"}
    assert (flushed.group_key, flushed.receiver, flushed.firing, flushed.resolved, flushed.muted) == (
        '{}:{alertname="A"}', "default", 1, 0, 0)
    assert (sent.receiver, sent.integration, sent.alerts, sent.attempts) == (
        "default", "log[0]", 1, 1)


async def test_a_failing_observer_does_not_stop_observation(tmp_path):
    obs = Observer()
    with structlog.testing.capture_logs() as logs:
        async with running(CONFIG, tmp_path, plugins=[obs, FailingObserver()]) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            await post(rt, {"labels": {"alertname": "B"}})
    assert [type(e) for e in obs.events] == [AlertReceived, GroupFlushed, AlertReceived]
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["observer failed"] * 3


# -- route -----------------------------------------------------------------------------------


ROUTE_CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  routes:
    - matchers: ['team="special"']
      receiver: special
receivers:
  - name: default
  - name: special
"""


class Router:
    @hookimpl(tryfirst=True)
    def tocsin_route(self, runtime, alert):
        if alert.labels.get("alertname") == "Normal":
            return None  # fall through to the routing tree
        return [runtime.config.route.routes[0]]


async def test_a_tryfirst_route_hook_overrides_the_tree(tmp_path):
    rec = NotificationRecorder()
    async with running(ROUTE_CONFIG, tmp_path, plugins=[Router(), rec]) as rt:
        await post(rt, {"labels": {"alertname": "Hijacked"}}, {"labels": {"alertname": "Normal"}})
        await advance(rt, 30)
        got = sorted((n.receiver, n.group_key) for n in rec.notifications)
        assert got == [
            ("default", '{}:{alertname="Normal"}'),
            ("special", '{}/{team="special"}:{alertname="Hijacked"}'),
        ]
        hijacked = rt.alerts.get(fingerprint({"alertname": "Hijacked"}))
        assert gettable(rt, hijacked, rt.clock.now())["receivers"] == [{"name": "special"}]


# -- inhibit ---------------------------------------------------------------------------------


class Silencer:
    def __init__(self) -> None:
        self.calls: list = []

    @hookimpl
    def tocsin_mute(self, runtime, alert, route, now):
        self.calls.append((alert.labels.get("instance"), route is None))
        if alert.labels.get("instance") == "muted":
            return MuteReason("silence", ("id1",))
        return None


class Sink:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.messages.append(await request.json())
        return web.Response()


@asynccontextmanager
async def sink() -> AsyncIterator[tuple[Sink, str]]:
    s = Sink()
    app = web.Application()
    app.router.add_post("/hook", s.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield s, str(server.make_url("/hook"))
    finally:
        await server.close()


async def test_inhibit_mutes_at_flush_and_shows_suppressed(tmp_path):
    silencer = Silencer()
    obs = Observer()
    async with sink() as (s, url):
        config = CONFIG.replace(
            "  - name: default\n", f"  - name: default\n    webhook_configs:\n      - url: {url}\n")
        async with running(config, tmp_path, plugins=[silencer, obs]) as rt:
            await post(rt, {"labels": {"alertname": "A", "instance": "muted"}})
            await advance(rt, 30)
            # Alone in its group and muted: nothing is delivered.
            assert s.messages == []
            assert len(rt.nflog) == 0

            await post(rt, {"labels": {"alertname": "A", "instance": "loud"}})
            await advance(rt, 300)
            assert [[a["labels"]["instance"] for a in m["alerts"]] for m in s.messages] == [["loud"]]
            flushes = [e for e in obs.events if isinstance(e, GroupFlushed)]
            assert [(f.firing, f.muted) for f in flushes] == [(0, 1), (1, 1)]
            # At flush the hook gets the group's route.
            assert ("muted", False) in silencer.calls

            now = rt.clock.now()
            muted = gettable(rt, rt.alerts.get(fingerprint({"alertname": "A", "instance": "muted"})), now)
            assert muted["status"] == {"state": "suppressed", "silencedBy": ["id1"], "inhibitedBy": []}
            loud = gettable(rt, rt.alerts.get(fingerprint({"alertname": "A", "instance": "loud"})), now)
            assert loud["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
            assert ("muted", True) in silencer.calls


class OldNameSilencer:
    @hookimpl
    def tocsin_inhibit(self, runtime, alert, route, now):
        return MuteReason("silence", ("old",)) if alert.labels.get("instance") == "muted" else None


def test_implementing_the_old_hook_name_tocsin_inhibit_warns():
    with pytest.warns(DeprecationWarning, match="tocsin_inhibit is deprecated.*tocsin_mute"):
        make_plugins([OldNameSilencer()], builtins=False)


@pytest.mark.filterwarnings("ignore:tocsin_inhibit is deprecated:DeprecationWarning")
async def test_the_old_hook_name_tocsin_inhibit_still_mutes(tmp_path):
    async with running(CONFIG, tmp_path, plugins=[OldNameSilencer()]) as rt:
        await post(rt, {"labels": {"alertname": "A", "instance": "muted"}},
                   {"labels": {"alertname": "A", "instance": "loud"}})
        now = rt.clock.now()
        muted = gettable(rt, rt.alerts.get(fingerprint({"alertname": "A", "instance": "muted"})), now)
        assert muted["status"]["silencedBy"] == ["old"]
        loud = gettable(rt, rt.alerts.get(fingerprint({"alertname": "A", "instance": "loud"})), now)
        assert loud["status"]["state"] == "active"


# -- notify ----------------------------------------------------------------------------------


class BrokenNotifier:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def tocsin_notify(self, runtime, notification):
        self.calls += 1
        raise RuntimeError("notifier bug")


async def test_a_raising_notify_hook_fails_the_flush_but_delivery_still_runs(tmp_path):
    broken = BrokenNotifier()
    async with sink() as (s, url):
        config = CONFIG.replace(
            "  - name: default\n", f"  - name: default\n    webhook_configs:\n      - url: {url}\n")
        async with running(config, tmp_path, plugins=[broken]) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            assert broken.calls == 1
            assert [m["status"] for m in s.messages] == ["firing"]

            await post(rt, {"labels": {"alertname": "A"}, "endsAt": format_ts(rt.clock.now())})
            await advance(rt, 300)
            assert [m["status"] for m in s.messages] == ["firing", "resolved"]
            # The flush counts as failed: the resolved alert stays for the next one.
            (group,) = rt.dispatcher.groups.values()
            assert list(group.alerts) == [fingerprint({"alertname": "A"})]


async def test_a_raising_remediation_hook_does_not_stop_the_others_or_the_flush(tmp_path):
    from tocsin import hookimpl
    from tocsin.testing import NotificationRecorder, advance, post, running

    seen: list[str] = []

    class Broken:
        @hookimpl
        def tocsin_remediate(self, runtime, notification):
            raise RuntimeError("boom")

    class Works:
        @hookimpl
        async def tocsin_remediate(self, runtime, notification):
            seen.append(notification.group_key)

    rec = NotificationRecorder()
    config = "route: {receiver: r, group_wait: 1s}\nreceivers: [{name: r}]\n"
    async with running(config, tmp_path, plugins=[Broken(), Works(), rec]) as rt:
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 1)
    assert len(rec.notifications) == 1
    assert seen == ["{}:{}"]


async def test_an_enricher_that_does_not_want_the_alert_is_not_called(tmp_path):
    from tocsin import hookimpl
    from tocsin.testing import post, running

    class Picky:
        def __init__(self, want: bool) -> None:
            self.want, self.calls = want, 0

        def wanted(self, runtime) -> bool:
            return self.want

        @hookimpl
        def tocsin_enrich(self, runtime, alert):
            self.calls += 1
            alert.annotations["picky"] = "yes"

    off, on = Picky(False), Picky(True)
    async with running("route: {receiver: a}\nreceivers: [{name: a}]\n", tmp_path, plugins=[off]) as rt:
        result = await post(rt, {"labels": {"alertname": "A"}})
        assert off.calls == 0
        assert "picky" not in rt.alerts.get(result.fingerprints[0]).annotations
    async with running("route: {receiver: a}\nreceivers: [{name: a}]\n", tmp_path, plugins=[on],
                       db_name="b.db") as rt:
        result = await post(rt, {"labels": {"alertname": "A"}})
        assert on.calls == 1
        assert rt.alerts.get(result.fingerprints[0]).annotations["picky"] == "yes"


def test_first_result_skips_pluggy_only_for_a_single_plain_implementation():
    from tocsin import hookimpl
    from tocsin.plugins import PluginManager

    pm = PluginManager()

    class Route:
        @hookimpl
        def tocsin_route(self, alert, runtime):  # any argument order
            return [("routed", alert, runtime)]

    class Another:
        @hookimpl(tryfirst=True)
        def tocsin_route(self, runtime, alert):
            return None  # no opinion: the next one answers

    pm.register(Route())
    fast = pm.first_result("tocsin_route")
    assert fast is not pm.hook.tocsin_route
    assert fast(runtime="rt", alert="a") == [("routed", "a", "rt")]
    assert pm.hook.tocsin_route(runtime="rt", alert="a") == [("routed", "a", "rt")]
    pm.register(Another())
    assert pm.first_result("tocsin_route") is pm.hook.tocsin_route  # two: pluggy decides
    assert pm.first_result("tocsin_route")(runtime="rt", alert="a") == [("routed", "a", "rt")]


def test_positional_results_answers_as_pluggy_does_without_it():
    from tocsin import hookimpl
    from tocsin.core.hooks import positional_results
    from tocsin.plugins import PluginManager

    pm = PluginManager()
    calls: list[str] = []

    class Early:
        @hookimpl(tryfirst=True)
        def tocsin_mute(self, now, alert, route, runtime):  # any argument order
            calls.append("early")
            return ("early", alert, now)

    class Few:
        @hookimpl
        def tocsin_mute(self, alert):  # some of the arguments only
            calls.append("few")
            return None  # no opinion: left out of the answers

    class Late:
        @hookimpl(trylast=True)
        def tocsin_mute(self, runtime, alert, route, now):
            calls.append("late")
            return ("late", runtime, route)

    for plugin in (Late(), Few(), Early()):
        pm.register(plugin)
    order = ("runtime", "alert", "route", "now")
    kwargs = {"runtime": "rt", "alert": "a", "route": "r", "now": 1.0}
    fast = positional_results(pm, "tocsin_mute", order)
    expected = [("early", "a", 1.0), ("late", "rt", "r")]
    assert fast("rt", "a", "r", 1.0) == pm.hook.tocsin_mute(**kwargs) == expected
    assert calls == ["early", "few", "late"] * 2  # the same order as pluggy's

    class Wrapper:
        @hookimpl(wrapper=True)
        def tocsin_mute(self, runtime, alert, route, now):
            answers = yield
            return [*answers, "wrapped"]

    pm.register(Wrapper())  # a wrapper: pluggy runs them all
    assert positional_results(pm, "tocsin_mute", order)("rt", "a", "r", 1.0) == [*expected, "wrapped"]
