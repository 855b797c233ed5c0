"""Delivery end to end: the webhook channel against a local HTTP server, retries,
per-integration notification log, send_resolved, and the log channel."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

import tocsin.notify.delivery
from tests.unit.fakeservice import serving
from tocsin.core.events import NotificationFailed, NotificationSent
from tocsin.core.labels import fingerprint
from tocsin.core.timefmt import format_ts
from tocsin.notify.delivery import backoff
from tocsin.store import IncidentQuery, notices, rows
from tocsin.store.sqlite import SQLiteStore
from tocsin.testing import EventRecorder, advance, instant_retries, post, running

EXTERNAL = "http://tocsin.example:9095"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class Sink:
    """Records requests; answers each path from a script of (status, headers), then 200."""

    requests: list[Request] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    always: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Request(request.path, dict(request.headers), await request.json()))
        queued = self.script.get(request.path)
        if queued:
            status, headers = queued.pop(0)
        else:
            status, headers = self.always.get(request.path, (200, {}))
        return web.Response(status=status, headers=headers, text="nope" if status >= 300 else "")

    def url(self, path: str = "/hook") -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


@asynccontextmanager
async def sink() -> AsyncIterator[Sink]:
    s = Sink()
    async with serving(s):
        yield s


def config(integrations: str, *, receiver: str = "hook", extra_route: str = "") -> str:
    return f"""
global:
  resolve_timeout: 1h
route:
  receiver: {receiver}
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
{extra_route}
server:
  external_url: {EXTERNAL}
receivers:
  - name: {receiver}
{integrations}
"""


def webhook(url: str, extra: str = "") -> str:
    lines = f"    webhook_configs:\n      - url: {url}\n"
    for line in extra.strip("\n").splitlines():
        lines += f"        {line}\n"
    return lines


# -- the message ---------------------------------------------------------------------------


async def test_webhook_message_is_alertmanagers_version_4(tmp_path):
    async with sink() as s:
        async with running(config(webhook(s.url())), tmp_path) as rt:
            starts = rt.clock.now() - 20
            await post(
                rt,
                {
                    "labels": {"alertname": "Disk", "job": "node", "instance": "b:9100"},
                    "annotations": {"summary": "disk full", "detail": "b"},
                    "startsAt": format_ts(starts),
                    "generatorURL": "http://prom:9090/graph?g0.expr=up",
                },
                {
                    "labels": {"alertname": "Disk", "job": "node", "instance": "a:9100"},
                    "annotations": {"summary": "disk full", "detail": "a"},
                    "startsAt": format_ts(starts),
                    "endsAt": format_ts(starts + 7200),
                    "generatorURL": "http://prom:9090/graph?g0.expr=up",
                },
            )
            await advance(rt, 30)

        assert len(s.requests) == 1
        req = s.requests[0]
        assert req.headers["Content-Type"] == "application/json"
        fp_a = fingerprint({"alertname": "Disk", "job": "node", "instance": "a:9100"})
        fp_b = fingerprint({"alertname": "Disk", "job": "node", "instance": "b:9100"})
        assert req.body == {
            "version": "4",
            "groupKey": '{}:{alertname="Disk"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "hook",
            "groupLabels": {"alertname": "Disk"},
            "commonLabels": {"alertname": "Disk", "job": "node"},
            "commonAnnotations": {"summary": "disk full"},
            "externalURL": EXTERNAL,
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "Disk", "job": "node", "instance": "a:9100"},
                    "annotations": {"summary": "disk full", "detail": "a"},
                    "startsAt": "2023-11-14T22:13:00Z",
                    # Firing alerts carry no end time, whatever was posted.
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prom:9090/graph?g0.expr=up",
                    "fingerprint": fp_a,
                },
                {
                    "status": "firing",
                    "labels": {"alertname": "Disk", "job": "node", "instance": "b:9100"},
                    "annotations": {"summary": "disk full", "detail": "b"},
                    "startsAt": "2023-11-14T22:13:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prom:9090/graph?g0.expr=up",
                    "fingerprint": fp_b,
                },
            ],
        }


async def test_resolved_message(tmp_path):
    async with sink() as s:
        async with running(config(webhook(s.url())), tmp_path) as rt:
            starts = rt.clock.now()
            await post(rt, {"labels": {"alertname": "A"}, "startsAt": format_ts(starts)})
            await advance(rt, 30)
            ends = rt.clock.now()
            await post(rt, {"labels": {"alertname": "A"}, "startsAt": format_ts(starts),
                            "endsAt": format_ts(ends)})
            await advance(rt, 300)
            assert rt.dispatcher.groups == {}
        assert len(s.requests) == 2
        body = s.requests[1].body
        assert body["status"] == "resolved"
        assert body["commonLabels"] == {"alertname": "A"}
        assert body["alerts"] == [{
            "status": "resolved",
            "labels": {"alertname": "A"},
            "annotations": {},
            "startsAt": "2023-11-14T22:13:20Z",
            "endsAt": "2023-11-14T22:13:50Z",
            "generatorURL": "",
            "fingerprint": fingerprint({"alertname": "A"}),
        }]


async def test_receiver_name_is_regexp_quoted_like_alertmanager(tmp_path):
    async with sink() as s:
        cfg = config(webhook(s.url()), receiver="team.a+b")
        async with running(cfg, tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
        # template.Data: Receiver is regexp.QuoteMeta(receiver name).
        assert s.requests[0].body["receiver"] == r"team\.a\+b"


async def test_max_alerts_truncates(tmp_path):
    async with sink() as s:
        async with running(config(webhook(s.url(), "max_alerts: 2")), tmp_path) as rt:
            await post(
                rt,
                {"labels": {"alertname": "A", "instance": "1", "x": "same"}},
                {"labels": {"alertname": "A", "instance": "2", "x": "same"}},
                {"labels": {"alertname": "A", "instance": "3", "x": "other"}},
            )
            await advance(rt, 30)
        body = s.requests[0].body
        assert body["truncatedAlerts"] == 1
        assert [a["labels"]["instance"] for a in body["alerts"]] == ["1", "2"]
        # Common labels are those of the alerts sent.
        assert body["commonLabels"] == {"alertname": "A", "x": "same"}


async def test_authorization_credentials_header(tmp_path):
    extra = "http_config:\n  authorization:\n    credentials: s3cr3t"
    async with sink() as s:
        async with running(config(webhook(s.url(), extra)), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
        assert s.requests[0].headers["Authorization"] == "Bearer s3cr3t"


async def test_basic_auth_header(tmp_path):
    extra = "http_config:\n  basic_auth:\n    username: user\n    password: p:w"
    async with sink() as s:
        async with running(config(webhook(s.url(), extra)), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
        expected = "Basic " + base64.b64encode(b"user:p:w").decode()
        assert s.requests[0].headers["Authorization"] == expected


# -- retries -----------------------------------------------------------------------------


def test_backoff_grows_and_is_capped(monkeypatch):
    monkeypatch.setattr(tocsin.notify.delivery.random, "uniform", lambda a, b: 1.0)
    assert [backoff(n) for n in (1, 2, 3)] == [0.5, 0.75, 1.125]
    assert backoff(100) == 60.0
    monkeypatch.setattr(tocsin.notify.delivery.random, "uniform", lambda a, b: a)
    assert backoff(1) == 0.25
    monkeypatch.setattr(tocsin.notify.delivery.random, "uniform", lambda a, b: b)
    assert backoff(1) == 0.75


async def test_retries_on_500_then_succeeds(tmp_path, monkeypatch):
    monkeypatch.setattr(tocsin.notify.delivery.random, "uniform", lambda a, b: 1.0)
    events = EventRecorder()
    async with sink() as s:
        s.script["/hook"] = [(500, {}), (502, {})]
        async with running(config(webhook(s.url())), tmp_path, plugins=[events]) as rt:
            sleep = instant_retries(rt, move_clock=False)
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            assert len(s.requests) == 3
            assert sleep.delays == [0.5, 0.75]
            (sent,) = events.of(NotificationSent)
            assert (sent.integration, sent.attempts, sent.alerts) == ("webhook[0]", 3, 1)
            assert events.of(NotificationFailed) == []
            assert rt.nflog.get('{}:{alertname="A"}', "hook", "webhook[0]") is not None
            # Each attempt is stored once: the failed ones as they failed, the last with the
            # log entry and the incident's "notified" row that it led to.
            stored = sorted(await rt.store.load_attempts(), key=lambda a: a.attempt)
            assert [(a.attempt, a.status) for a in stored] == [(1, 500), (2, 502), (3, None)]
            assert (await rt.store.load_nflog(0.0))[0].integration == "webhook[0]"
            [inc] = await rt.store.query_incidents(IncidentQuery())
            assert [h.kind for h in await rt.store.load_history(inc.id)][-1] == "notified"
        # Every attempt carried the same message.
        assert s.requests[0].body == s.requests[2].body


async def test_400_is_not_retried_and_next_flush_tries_again(tmp_path):
    events = EventRecorder()
    async with sink() as s:
        s.script["/hook"] = [(400, {})]
        async with running(config(webhook(s.url())), tmp_path, plugins=[events]) as rt:
            sleep = instant_retries(rt, move_clock=False)
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            assert len(s.requests) == 1
            assert sleep.delays == []
            (failed,) = events.of(NotificationFailed)
            assert (failed.integration, failed.attempts, failed.alerts) == ("webhook[0]", 1, 1)
            assert "HTTP 400" in failed.error
            assert rt.nflog.get('{}:{alertname="A"}', "hook", "webhook[0]") is None

            await advance(rt, 300)
            assert len(s.requests) == 2
            assert len(events.of(NotificationSent)) == 1


async def test_429_retry_after_is_honoured(tmp_path):
    events = EventRecorder()
    async with sink() as s:
        s.script["/hook"] = [(429, {"Retry-After": "7"})]
        async with running(config(webhook(s.url())), tmp_path, plugins=[events]) as rt:
            sleep = instant_retries(rt, move_clock=False)
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            assert sleep.delays == [7.0]
            assert len(s.requests) == 2
            assert [e.attempts for e in events.of(NotificationSent)] == [2]


async def test_gives_up_at_the_group_interval_deadline(tmp_path):
    events = EventRecorder()
    async with sink() as s:
        s.always["/hook"] = (503, {"Retry-After": "100"})
        async with running(config(webhook(s.url())), tmp_path, plugins=[events]) as rt:
            sleep = instant_retries(rt)
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            # Attempts at 0s, 100s, 200s; a 4th at 300s would reach the 5m deadline.
            assert len(s.requests) == 3
            assert sleep.delays == [100.0, 100.0]
            (failed,) = events.of(NotificationFailed)
            assert failed.group_key == '{}:{alertname="A"}'
            assert (failed.receiver, failed.integration, failed.attempts) == ("hook", "webhook[0]", 3)
            assert "HTTP 503" in failed.error
            assert events.of(NotificationSent) == []
            assert len(rt.nflog) == 0


# -- several integrations --------------------------------------------------------------------


async def test_a_failing_integration_does_not_resend_the_healthy_one(tmp_path):
    events = EventRecorder()
    async with sink() as s:
        s.always["/bad"] = (400, {})
        integrations = f"    webhook_configs:\n      - url: {s.url('/good')}\n      - url: {s.url('/bad')}\n"
        async with running(config(integrations), tmp_path, plugins=[events]) as rt:
            instant_retries(rt, move_clock=False)
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            assert (len(s.to("/good")), len(s.to("/bad"))) == (1, 1)
            key = '{}:{alertname="A"}'
            assert rt.nflog.get(key, "hook", "webhook[0]") is not None
            assert rt.nflog.get(key, "hook", "webhook[1]") is None

            await advance(rt, 300)
            # prometheus/alertmanager#1494: only the failed integration is tried again.
            assert (len(s.to("/good")), len(s.to("/bad"))) == (1, 2)
            assert [e.integration for e in events.of(NotificationSent)] == ["webhook[0]"]
            assert [e.integration for e in events.of(NotificationFailed)] == [
                "webhook[1]", "webhook[1]",
            ]


async def test_failed_integration_keeps_resolved_alerts_in_the_group(tmp_path):
    async with sink() as s:
        s.script["/hook"] = [(200, {}), (400, {})]
        async with running(config(webhook(s.url())), tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A"}})
            await advance(rt, 30)
            await post(rt, {"labels": {"alertname": "A"}, "endsAt": format_ts(rt.clock.now())})
            await advance(rt, 300)  # the resolved notice fails with 400
            assert len(rt.dispatcher.groups) == 1
            await advance(rt, 300)  # and is sent again
            assert [r.body["status"] for r in s.requests] == ["firing", "resolved", "resolved"]
            assert rt.dispatcher.groups == {}


# -- send_resolved: false ----------------------------------------------------------------


async def test_send_resolved_false_filters_resolved_and_records_all_resolved(tmp_path):
    events = EventRecorder()
    fp = {n: fingerprint({"alertname": "A", "instance": n}) for n in ("1", "2", "3")}
    key = '{}:{alertname="A"}'
    async with sink() as s:
        cfg = config(webhook(s.url(), "send_resolved: false"))
        async with running(cfg, tmp_path, plugins=[events]) as rt:
            def resolve(*instances):
                now = format_ts(rt.clock.now())
                return [{"labels": {"alertname": "A", "instance": i}, "endsAt": now} for i in instances]

            await post(rt, {"labels": {"alertname": "A", "instance": "1"}},
                       {"labels": {"alertname": "A", "instance": "2"}})
            await advance(rt, 30)
            assert len(s.requests) == 1

            # 1 resolves: nothing new for a receiver that does not want resolved notices.
            await post(rt, *resolve("1"))
            await advance(rt, 300)
            assert len(s.requests) == 1

            # 3 fires and 2 resolves: only the firing alerts are sent.
            await post(rt, *resolve("2"))
            await post(rt, {"labels": {"alertname": "A", "instance": "3"}})
            await advance(rt, 300)
            assert len(s.requests) == 2
            body = s.requests[1].body
            assert body["status"] == "firing"
            assert [a["labels"]["instance"] for a in body["alerts"]] == ["3"]
            entry = rt.nflog.get(key, "hook", "webhook[0]")
            assert (entry.firing, entry.resolved) == (frozenset({fp["3"]}), frozenset({fp["2"]}))

            # All resolved: nothing is sent, but the log learns it.
            await post(rt, *resolve("3"))
            before = len(events.of(NotificationSent))
            await advance(rt, 300)
            assert len(s.requests) == 2
            entry = rt.nflog.get(key, "hook", "webhook[0]")
            assert entry.firing == frozenset()
            assert entry.resolved == frozenset({fp["3"]})
            assert entry.sent_at == rt.clock.now()
            assert len(events.of(NotificationSent)) == before
            assert rt.dispatcher.groups == {}


# -- the log channel -------------------------------------------------------------------------


@pytest.mark.parametrize("details", [True, False])
async def test_log_channel_writes_one_structured_line(tmp_path, details):
    cfg = config(f"    log_configs:\n      - level: error\n        details: {str(details).lower()}\n",
                 receiver="ops")
    with structlog.testing.capture_logs() as logs:
        async with running(cfg, tmp_path) as rt:
            await post(rt, {"labels": {"alertname": "A", "instance": "1"},
                            "annotations": {"summary": "s"}})
            await advance(rt, 30)
    lines = [e for e in logs if e["event"] == "notification"]
    assert len(lines) == 1
    fp = fingerprint({"alertname": "A", "instance": "1"})
    alert = {"fingerprint": fp, "status": "firing"}
    if details:
        alert |= {"labels": {"alertname": "A", "instance": "1"}, "annotations": {"summary": "s"}}
    assert lines[0] == {
        "event": "notification",
        "log_level": "error",
        "receiver": "ops",
        "integration": "log[0]",
        "status": "firing",
        "group_key": '{}:{alertname="A"}',
        "group_labels": {"alertname": "A"},
        "firing": 1,
        "resolved": 0,
        "alerts": [alert],
    }
    sent = [e for e in logs if e["event"] == "notification sent"]
    assert [(e["integration"], e["alerts"], e["attempts"], e["fingerprints"]) for e in sent] == [
        ("log[0]", 1, 1, [fp])]  # every alert log line carries its fingerprint


async def test_log_entry_and_notified_history_share_one_commit(tmp_path, monkeypatch):
    """A send's notification-log entry and its incidents' "notified" events (the
    notification's notice) are written in the same transaction: a flush waits for one
    commit, not one after the other."""
    commits: list[list[str]] = []
    commit = SQLiteStore._commit

    async def recording(self, ops):
        commits.append([sql for sql, *_ in ops])
        await commit(self, ops)

    monkeypatch.setattr(SQLiteStore, "_commit", recording)
    async with sink() as s, running(config(webhook(s.url())), tmp_path) as rt:
        await post(rt, {"labels": {"alertname": "Disk", "instance": "a"}})
        await advance(rt, 30)
        assert len(s.requests) == 1
        with_nflog = [c for c in commits if rows.NFLOG_SQL in c]
        assert len(with_nflog) == 1
        assert notices.NOTICE_SQL in with_nflog[0]
        assert rows.HISTORY_SQL not in with_nflog[0]


async def test_a_flush_with_nothing_new_is_not_redacted_or_sent(tmp_path):
    """Every group_interval a group flushes again; when the log says every integration has
    heard of it already, the flush ends before its alerts are redacted for sending."""
    async with sink() as s:
        two = f"    webhook_configs:\n      - url: {s.url()}\n      - url: {s.url('/two')}\n"
        async with running(config(two), tmp_path) as rt:
            redacted = []
            paced = rt.delivery.redactor.notification_paced

            async def counting(n):
                redacted.append(n.group_key)
                return await paced(n)

            rt.delivery.redactor.notification_paced = counting
            await post(rt, {"labels": {"alertname": "Disk"}})
            await advance(rt, 30)
            assert (len(s.requests), len(redacted)) == (2, 1)
            await advance(rt, 300)  # group_interval: nothing new, repeat_interval not yet
            assert (len(s.requests), len(redacted)) == (2, 1)
            await post(rt, {"labels": {"alertname": "Disk", "instance": "b"}})
            await advance(rt, 300)  # a new alert in the group: both integrations hear of it
            assert (len(s.requests), len(redacted)) == (4, 2)
