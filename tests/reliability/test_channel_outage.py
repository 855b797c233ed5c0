"""Channel outage: the webhook receiver refuses connections, then answers slowly, then
recovers; afterwards every alert reaches it in its final state, per group in order, and
every duplicate is one the documented at-least-once rule explains.

A ``tocsin serve`` subprocess routes ``group_by: [group]`` to one receiver with two
webhook integrations pointing at the same local HTTP endpoint, whose port stays fixed
while it goes through four phases:

0. *baseline*: normal; every group that exists gets its first notification through;
1. *refused*: nothing listens on the port (connection refused) for ``OUTAGE`` seconds;
2. *slow*: a listener that records each request at once but answers only after
   ``SLOW_ANSWER`` seconds, for ``OUTAGE`` seconds (closing it cuts the requests still
   waiting for their answer);
3. *normal* again, until every group's final state has arrived.

The two integrations differ only in their ``timeout``: ``webhook[0]`` (path ``/patient``)
allows ``2 * SLOW_ANSWER``, so slow answers still succeed; ``webhook[1]`` (``/impatient``)
allows ``SLOW_ANSWER / 2``, so every slow answer comes after the sender gave up although
the receiver has processed the request. ``group_interval`` is ``OUTAGE / 3``, so each
phase spans several retry windows: the README's delivery rules (retries with backoff
until the group's next interval, the attempt bounded by the integration's timeout, then
the dead-letter table; the notification log records only what was sent, so the group's
next flush sends its current state again) predict that the final state of every group
arrives without anyone replaying a dead letter. During phases 1 and 2 the test posts
``STEPS`` steps of alerts to five groups, at most one change per group per step, so each
group goes through a sequence of states (firing sets growing, alerts resolved, a group
all resolved and firing again, a group born during the outage). Proven, per integration:

* nothing lost: each group's last notification carries exactly the alerts that fire at
  the end, and every alert resolved at the end was shown resolved by some notification;
* in order: the notifications of a group are snapshots of the posted history at
  non-decreasing steps (a resolved alert never fires again afterwards, a firing alert
  never disappears without having been shown resolved, an alert never shows up before
  it was posted);
* duplicates (the same group content twice) are counted and each must follow a copy the
  receiver processed but whose answer never reached the sender (timed out or cut): the
  documented at-least-once delivery. Any other duplicate fails the test;
* the failed attempts are visible: ``GET /api/tocsin/v1/notifications/attempts`` lists
  connection errors and timeouts, ``/metrics`` counts exactly as many failed attempts,
  retries ran out (failed notifications, each kept as a dead letter), and once every
  group's current state got through, the dead-letter table is empty: a dead letter is
  dropped when a newer state of its group reaches that integration.

A second test lists the dead letters while the receiver is still down and replays them
with ``tocsin dlq replay`` after recovery: each is already gone or answered
"superseded", nothing stale is sent, and the receiver's per-group order still holds.

Quick mode (the default): 6 s refused, 6 s slow with 2 s answers, ``group_interval`` 2 s,
about 30 s for the file. Long mode, the issue's figures (60 s refused, 60 s slow with
10 s answers, ``group_interval`` 20 s)::

    TOCSIN_OUTAGE_SECONDS=60 .venv/bin/pytest -q -s tests/reliability/test_channel_outage.py

Any ``TOCSIN_OUTAGE_SECONDS`` works: slow answers take a third of it, at most 10 s. The
figures (notifications expected and received, alerts lost, duplicates and their
reasons, order violations, failed attempts, dead letters, time from the end of the
outage to everything delivered) are printed and appended as JSON with key
``"channel_outage"`` (and ``"channel_outage_replay"``) to ``$TOCSIN_RELIABILITY_REPORT``
if set.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.peers import Daemon, free_port
from tests.reliability.figures import write_report
from tocsin.testing import wait_until

pytestmark = pytest.mark.e2e

OUTAGE = float(os.environ.get("TOCSIN_OUTAGE_SECONDS", "6"))
SLOW_ANSWER = min(10.0, OUTAGE / 3)
GROUP_INTERVAL = OUTAGE / 3
GROUP_WAIT = 0.5
#: path on the receiver -> (integration name in tocsin, its timeout)
INTEGRATIONS = {
    "patient": ("webhook[0]", 2 * SLOW_ANSWER),
    "impatient": ("webhook[1]", SLOW_ANSWER / 2),
}
STEPS = 12  # posting steps during the outage: the first half refused, the second slow

#: Per group, step -> "+x" (alert x fires) or "-x" (alert x resolves). Step 0 is the baseline.
PLAN: dict[str, dict[int, str]] = {
    # grows during the refused phase, then drains to all resolved
    "drain": {0: "+d0", 1: "+d1", 2: "+d2", 3: "+d3", 4: "+d4", 5: "+d5",
              7: "-d0", 8: "-d1", 9: "-d2", 10: "-d3", 11: "-d4", 12: "-d5"},
    # only grows
    "grow": {k: f"+g{k}" for k in range(STEPS + 1)},
    # one new alert, then the oldest resolved, in turns
    "churn": {0: "+c0", 1: "+c1", 2: "-c0", 3: "+c2", 4: "-c1", 5: "+c3", 6: "-c2",
              7: "+c4", 8: "-c3", 9: "+c5", 10: "-c4", 11: "+c6", 12: "-c5"},
    # all resolved, firing again, all resolved, firing again
    "flap": {0: "+f0", 1: "-f0", 4: "+f1", 8: "-f1", 11: "+f2"},
    # born during the outage
    "newborn": {3: "+n1", 6: "+n2", 10: "-n1"},
}


def ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def config(port: int, group_interval: float = GROUP_INTERVAL) -> str:
    hooks = ", ".join(f'{{url: "http://127.0.0.1:{port}/{path}", timeout: {ms(timeout)}}}'
                      for path, (_, timeout) in INTEGRATIONS.items())
    return f"""
global: {{resolve_timeout: 1h}}
route: {{receiver: hook, group_by: [group], group_wait: {ms(GROUP_WAIT)},
         group_interval: {ms(group_interval)}, repeat_interval: 4h}}
receivers: [{{name: hook, webhook_configs: [{hooks}]}}]
"""


# -- the receiver ---------------------------------------------------------------------


@dataclass
class Message:
    """One request the receiver processed (recorded on arrival, before any answer)."""

    path: str
    group: str
    status: str
    alerts: dict[str, str]  # alert id -> "firing" | "resolved"
    phase: str
    arrived: float  # wall clock, comparable with the daemon's timestamps
    #: ``answered`` (the sender got the answer), ``late`` (the sender had given up when the
    #: answer was due), ``cut`` (the listener closed while the sender waited), ``pending``.
    outcome: str = "pending"

    def content(self) -> frozenset[tuple[str, str]]:
        return frozenset(self.alerts.items())

    def firing(self) -> set[str]:
        return {a for a, s in self.alerts.items() if s == "firing"}


class FlakyReceiver:
    """A webhook endpoint on a fixed loopback port that can be down, slow or normal."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        self.phase = "down"
        self._delay = 0.0
        self._runner: web.AppRunner | None = None

    async def open(self, phase: str, delay: float = 0.0) -> None:
        """Listen on the port (again), answering each request after ``delay`` seconds."""
        assert self._runner is None
        self.phase, self._delay = phase, delay
        app = web.Application()
        app.router.add_post("/{path}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self._runner = runner

    async def close(self) -> None:
        """Stop listening: connections are refused; requests waiting for an answer are cut."""
        runner, self._runner = self._runner, None
        self.phase = "down"
        if runner is not None:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        msg = Message(
            path=request.match_info["path"], group=body["groupLabels"]["group"],
            status=body["status"], alerts={a["labels"]["n"]: a["status"] for a in body["alerts"]},
            phase=self.phase, arrived=time.time(),
        )
        self.messages.append(msg)
        if self._delay:
            try:
                await asyncio.sleep(self._delay)
            except asyncio.CancelledError:  # close() while the sender waits
                msg.outcome = "cut"
                raise
        response = web.Response(status=200)
        transport = request.transport
        if transport is None or transport.is_closing():
            msg.outcome = "late"
            return response
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            msg.outcome = "late"
            return response
        msg.outcome = "answered"
        return response

    def of(self, path: str, group: str) -> list[Message]:
        return [m for m in self.messages if m.path == path and m.group == group]


# -- what was posted ------------------------------------------------------------------


@dataclass
class History:
    """Each alert's group, start, and the steps at which it fired and resolved."""

    group: dict[str, str] = field(default_factory=dict)
    starts: dict[str, float] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=dict)
    resolved: dict[str, int] = field(default_factory=dict)

    def step(self, step: int, plan: dict[str, dict[int, str]]) -> list[dict]:
        """Apply ``step`` of the plan; return the alerts to post."""
        now = time.time()
        out = []
        for group, actions in plan.items():
            action = actions.get(step)
            if action is None:
                continue
            sign, alert = action[0], action[1:]
            if sign == "+":
                self.group[alert], self.starts[alert], self.fired[alert] = group, now, step
                out.append(self._body(alert))
            else:
                self.resolved[alert] = step
                out.append(self._body(alert) | {"endsAt": iso(now)})
        return out

    def _body(self, alert: str) -> dict:
        return {"labels": {"alertname": "ChannelOutage", "group": self.group[alert], "n": alert},
                "startsAt": iso(self.starts[alert])}

    def alerts_of(self, group: str) -> list[str]:
        return [a for a, g in self.group.items() if g == group]

    def firing_at_end(self, group: str) -> set[str]:
        return {a for a in self.alerts_of(group) if a not in self.resolved}

    def resolved_at_end(self, group: str) -> set[str]:
        return {a for a in self.alerts_of(group) if a in self.resolved}


# -- checks ---------------------------------------------------------------------------


def window(msg: Message, history: History, told_resolved: set[str]) -> tuple[float, float]:
    """The posting steps [lo, hi) at which the group looked as ``msg`` shows it.

    A firing alert was posted and not yet resolved; a resolved one was resolved; an
    absent one was not posted yet, unless the integration was already shown it resolved
    (then it may have left the group)."""
    lo, hi = 0.0, math.inf
    for alert in history.alerts_of(msg.group):
        fired, resolved = history.fired[alert], history.resolved.get(alert, math.inf)
        state = msg.alerts.get(alert)
        if state == "firing":
            lo, hi = max(lo, fired), min(hi, resolved)
        elif state == "resolved":
            lo = max(lo, resolved)
        elif alert not in told_resolved:
            hi = min(hi, fired)
    return lo, hi


def order_violations(messages: list[Message], history: History) -> list[str]:
    """Where one integration's notifications of one group are not snapshots of the posted
    history at non-decreasing steps."""
    problems = []
    step = 0.0
    told: set[str] = set()
    for i, msg in enumerate(messages):
        unknown = set(msg.alerts) - set(history.alerts_of(msg.group))
        lo, hi = window(msg, history, told)
        if unknown or max(lo, step) >= hi or (msg.status == "firing") != bool(msg.firing()):
            problems.append(f"{msg.path}/{msg.group} #{i} ({msg.phase}): {msg.status} {msg.alerts} "
                            f"shows the group as at steps [{lo:g}, {hi:g}) after step {step:g}")
            continue
        step = max(lo, step)
        told |= {a for a, s in msg.alerts.items() if s == "resolved"}
    return problems


def lost(messages: list[Message], history: History, group: str) -> set[str]:
    """Alerts of ``group`` whose final state these notifications never showed."""
    firing = history.firing_at_end(group)
    shown_resolved = {a for m in messages for a, s in m.alerts.items() if s == "resolved"}
    last_firing = messages[-1].firing() if messages else set()
    return (firing - last_firing) | (history.resolved_at_end(group) - shown_resolved) | (
        last_firing - firing)


def duplicates(messages: list[Message]) -> Counter[str]:
    """Repeated contents, by reason: ``after_late_answer`` or ``after_cut`` when an earlier
    copy was processed by the receiver but its answer never reached the sender (the
    documented at-least-once delivery), else ``unexplained``."""
    seen: dict[frozenset, list[Message]] = {}
    out: Counter[str] = Counter()
    for msg in messages:
        earlier = seen.setdefault(msg.content(), [])
        if earlier:
            unanswered = [m.outcome for m in earlier if m.outcome != "answered"]
            out[f"after_{unanswered[-1]}" if unanswered else "unexplained"] += 1
        earlier.append(msg)
    return out


def missing(receiver: FlakyReceiver, history: History, plan: Iterable[str]) -> dict[str, list[str]]:
    """Per integration and group, the alerts whose final state has not arrived yet."""
    out = {}
    for path in INTEGRATIONS:
        for group in plan:
            gone = lost(receiver.of(path, group), history, group)
            if gone:
                out[f"{path}/{group}"] = sorted(gone)
    return out


async def wait_until_delivered(receiver: FlakyReceiver, history: History, plan: Iterable[str],
                               timeout: float) -> float:
    """Seconds until every group's final state arrived at every integration."""
    started = time.monotonic()
    await wait_until(lambda: not missing(receiver, history, plan), timeout, 0.05,
                     message=lambda: f"delivery after the outage of {missing(receiver, history, plan)}")
    return time.monotonic() - started


# -- the daemon's own account ---------------------------------------------------------


async def get_json(d: Daemon, path: str) -> list[dict]:
    async with aiohttp.ClientSession() as s, s.get(f"{d.url}{path}") as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def metric_samples(d: Daemon) -> dict[tuple[str, frozenset], float]:
    async with aiohttp.ClientSession() as s, s.get(f"{d.url}/metrics") as r:
        text = await r.text()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def sample(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# -- driving the outage ---------------------------------------------------------------


async def post(d: Daemon, alerts: list[dict]) -> None:
    if alerts:
        status, text = await d.post_alerts(alerts)
        assert status == 200, text


async def sleep_until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


async def baseline(d: Daemon, receiver: FlakyReceiver, history: History,
                   plan: dict[str, dict[int, str]]) -> None:
    """Phase 0: every group that exists gets its first notification through, recorded."""
    await receiver.open("baseline")
    await post(d, history.step(0, plan))
    groups = sum(1 for actions in plan.values() if 0 in actions)
    await d.wait_log("notification sent", count=groups * len(INTEGRATIONS), timeout=60)
    await receiver.close()


async def outage(d: Daemon, receiver: FlakyReceiver, history: History) -> None:
    """Phases 1 and 2, posting a step every ``2 * OUTAGE / STEPS`` seconds."""
    dt = 2 * OUTAGE / STEPS
    start = time.monotonic()
    for step in range(1, STEPS + 1):
        if step == STEPS // 2 + 1:
            await sleep_until(start + OUTAGE)
            await receiver.open("slow", SLOW_ANSWER)
        await sleep_until(start + (step - 0.5) * dt)
        await post(d, history.step(step, PLAN))
    await sleep_until(start + 2 * OUTAGE)
    await receiver.close()


#: How the daemon words each kind of failed attempt.
FAILURES = {"refused": "ClientConnectorError", "timed_out": "no answer within",
            "cut": "ServerDisconnectedError"}


def daemon_failures(attempts: list[dict], integration: str) -> dict[str, int]:
    """The failed attempts ``GET .../notifications/attempts`` lists, by kind."""
    out: Counter[str] = Counter()
    for a in attempts:
        if a["integration"] == integration and a["error"]:
            out[next((k for k, text in FAILURES.items() if text in a["error"]), "other")] += 1
    return dict(out)


def integration_figures(receiver: FlakyReceiver, history: History, path: str, attempts: list[dict],
                        dead: list[dict]) -> tuple[dict, list[str]]:
    """What one integration's endpoint received, judged; and its order violations."""
    name, timeout = INTEGRATIONS[path]
    per_group = {g: receiver.of(path, g) for g in PLAN}
    messages = [m for msgs in per_group.values() for m in msgs]
    violations: list[str] = []
    dups: Counter[str] = Counter()
    for msgs in per_group.values():
        violations += order_violations(msgs, history)
        dups += duplicates(msgs)
    return {
        "integration": name, "timeout_seconds": timeout,
        "notifications_received": len(messages),
        "by_phase": dict(Counter(m.phase for m in messages)),
        "answers": dict(Counter(m.outcome for m in messages)),
        "final_states_received": sum(not lost(msgs, history, g) for g, msgs in per_group.items()),
        "alerts_lost": sorted(a for g, msgs in per_group.items() for a in lost(msgs, history, g)),
        "duplicates": dict(dups),
        "order_violations": len(violations),
        "failed_attempts": daemon_failures(attempts, name),
        "dead_letters_left": sum(1 for x in dead if x["integration"] == name),
    }, violations


async def test_channel_outage_delivers_every_final_state_in_order(make_daemon):
    """Refused, then slow, then normal: every group's final state arrives at both
    integrations, in order, with only at-least-once duplicates, and the failures show."""
    receiver = FlakyReceiver()
    d = make_daemon(config(receiver.port))
    await d.start()
    history = History()
    try:
        await baseline(d, receiver, history, PLAN)
        await outage(d, receiver, history)
        await receiver.open("normal")
        recovery = await wait_until_delivered(receiver, history, PLAN, timeout=120 + 6 * GROUP_INTERVAL)
        # Anything still coming (a late retry, a regression) must show up in the checks.
        await asyncio.sleep(2 * GROUP_INTERVAL)
        attempts = await get_json(d, "/api/tocsin/v1/notifications/attempts?limit=10000")
        dead = await get_json(d, "/api/tocsin/v1/dead-letters")
        samples = await metric_samples(d)
    finally:
        await receiver.close()

    figures: dict = {
        "outage_seconds": OUTAGE, "slow_answer_seconds": SLOW_ANSWER,
        "group_interval_seconds": GROUP_INTERVAL,
        "alerts_posted": len(history.group), "groups": len(PLAN),
        "final_states_expected": len(PLAN) * len(INTEGRATIONS),
        "alert_states_expected": len(history.group) * len(INTEGRATIONS),
        "recovery_seconds": round(recovery, 2), "integrations": {},
    }
    violations: list[str] = []
    for path in INTEGRATIONS:
        figures["integrations"][path], found = integration_figures(receiver, history, path, attempts, dead)
        figures["integrations"][path]["dead_letters_made"] = int(sample(
            samples, "tocsin_notifications_total", outcome="failed", receiver="hook",
            integration=INTEGRATIONS[path][0]))
        violations += found
    print("channel outage:", json.dumps(figures, indent=1))
    write_report("channel_outage", figures)

    assert not violations, "\n".join(violations)
    for path, (name, _) in INTEGRATIONS.items():
        fig = figures["integrations"][path]
        assert fig["alerts_lost"] == [], (path, fig["alerts_lost"])
        assert fig["duplicates"].get("unexplained", 0) == 0, (path, fig["duplicates"])
        check_failures_visible(path, name, fig, attempts, samples)
    # Every group's current state got through, so every dead letter was superseded.
    assert dead == [], dead
    assert sample(samples, "tocsin_dead_letters") == 0


def check_failures_visible(path: str, name: str, fig: dict, attempts: list[dict],
                           samples: dict[tuple[str, frozenset], float]) -> None:
    """The attempts API and /metrics both show the failures the outage caused."""
    failures = fig["failed_attempts"]
    assert failures.get("refused", 0) > 0, (path, failures)
    if path == "impatient":
        assert failures.get("timed_out", 0) > 0, (path, failures)
    assert fig["dead_letters_made"] > 0, (path, "the outage never exhausted the retries")
    labels = {"receiver": "hook", "integration": name}
    errors = sum(1 for a in attempts if a["integration"] == name and a["error"])
    oks = sum(1 for a in attempts if a["integration"] == name and not a["error"])
    assert sample(samples, "tocsin_notification_attempts_total", result="error", **labels) == errors
    assert sample(samples, "tocsin_notification_attempts_total", result="ok", **labels) == oks


# -- replaying dead letters -----------------------------------------------------------

#: A shorter history for the replay test: a group that resolves and one that grows.
REPLAY_PLAN: dict[str, dict[int, str]] = {
    "drain": {0: "+d0", 1: "+d1", 2: "-d0", 3: "-d1"},
    "grow": {0: "+g0", 1: "+g1", 2: "+g2", 3: "+g3"},
}


async def tocsin_cli(*args: str) -> tuple[int, str]:
    """Run the CLI without blocking the loop the receiver answers on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tocsin", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


def all_messages(receiver: FlakyReceiver, plan: Iterable[str]) -> dict[tuple[str, str], list[Message]]:
    return {(p, g): receiver.of(p, g) for p in INTEGRATIONS for g in plan}


async def test_replaying_dead_letters_after_recovery_sends_nothing_stale(make_daemon):
    """Dead letters listed while the receiver is down, replayed with ``tocsin dlq replay``
    once the groups' final states have arrived: each one is already gone (dropped when its
    group's newer state got through) or answered "superseded"; the receiver gets nothing
    from the replay, and its notifications of each group are still in order (a replay
    must not bring back a state the group has left)."""
    receiver = FlakyReceiver()
    interval = 1.0
    d = make_daemon(config(receiver.port, group_interval=interval))
    await d.start()
    history = History()
    answers: list[str] = []
    try:
        await baseline(d, receiver, history, REPLAY_PLAN)
        for step in range(1, 4):
            await post(d, history.step(step, REPLAY_PLAN))
            await asyncio.sleep(1.5 * interval)
        await d.wait_log("kept in the dead-letter table", count=2, timeout=60)
        code, out = await tocsin_cli("dlq", "--url", d.url, "list", "-o", "json")
        assert code == 0, out
        letters = json.loads(out)
        await receiver.open("normal")
        await wait_until_delivered(receiver, history, REPLAY_PLAN, timeout=60)
        await asyncio.sleep(2 * interval)
        before = len(receiver.messages)
        receiver.phase = "replay"
        for letter in letters:
            code, out = await tocsin_cli("dlq", "--url", d.url, "replay", str(letter["id"]))
            answers.append("superseded" if code == 0 and "superseded" in out else
                           "gone" if code == 1 and "404" in out else f"other: {code} {out.strip()}")
        left = await get_json(d, "/api/tocsin/v1/dead-letters")
        await asyncio.sleep(3 * interval)
        stale = missing(receiver, history, REPLAY_PLAN)
    finally:
        await receiver.close()

    violations = [v for msgs in all_messages(receiver, REPLAY_PLAN).values()
                  for v in order_violations(msgs, history)]
    figures = {"dead_letters_listed": len(letters), "answers": dict(Counter(answers)),
               "sent_by_replay": len(receiver.messages) - before, "left_after_replay": len(left),
               "order_violations": len(violations), "groups_left_stale": stale}
    print("dead-letter replay:", json.dumps(figures), *violations, sep="\n")
    write_report("channel_outage_replay", figures)
    assert letters, "the refused phase left no dead letter"
    assert set(answers) <= {"superseded", "gone"}, answers
    assert figures["sent_by_replay"] == 0
    assert not left
    assert not stale
    assert not violations, "\n".join(violations)


# -- the checks can fail --------------------------------------------------------------


def test_the_checks_catch_loss_reordering_and_unexplained_duplicates():
    """On made-up receipts: the order check, the loss check and the duplicate reasons."""
    history = History()
    for step in range(3):
        history.step(step, {"g": {0: "+a", 1: "+b", 2: "-a"}})

    def msg(outcome: str = "answered", **alerts: str) -> Message:
        status = "firing" if "firing" in alerts.values() else "resolved"
        return Message("p", "g", status, alerts, "test", 0.0, outcome)

    fine = [msg(a="firing"), msg(a="firing", b="firing"), msg(a="resolved", b="firing"), msg(b="firing")]
    assert order_violations(fine, history) == []
    assert lost(fine, history, "g") == set()
    fires_again = [msg(a="resolved", b="firing"), msg(a="firing", b="firing")]
    assert len(order_violations(fires_again, history)) == 1
    vanishes = [msg(a="firing", b="firing"), msg(b="firing")]
    assert len(order_violations(vanishes, history)) == 1
    too_early = [msg(b="firing")]  # b without a, which was posted before it and still fires
    assert len(order_violations(too_early, history)) == 1
    assert lost(fine[:2], history, "g") == {"a"}  # never shown resolved
    assert lost([msg(a="resolved")], history, "g") == {"b"}
    assert duplicates([msg(b="firing"), msg(b="firing")]) == {"unexplained": 1}
    assert duplicates([msg("late", b="firing"), msg(b="firing")]) == {"after_late": 1}
    assert duplicates([msg("cut", b="firing"), msg(b="firing")]) == {"after_cut": 1}
