"""Ingest: Alertmanager's postAlertsHandler normalisation, Alerts.Put / Alert.Merge,
and what gets written when."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from tocsin.core.labels import fingerprint
from tocsin.core.models import Alert, PostableAlert
from tocsin.core.timefmt import format_ts
from tocsin.ingest.pipeline import AlertError, merge, to_alert
from tocsin.store import StorageError
from tocsin.testing import post, running

NOW = 1_700_000_000.0
RT = 300.0

CONFIG = """
global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname]
receivers:
  - name: default
"""


def dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def postable(labels=None, **kw) -> PostableAlert:
    return PostableAlert(labels={"alertname": "A"} if labels is None else labels, **kw)


def alert(*, starts: float, ends: float, updated: float, timeout: bool = False, **kw) -> Alert:
    return Alert(fingerprint="fp", labels={"alertname": "A"}, starts_at=starts, ends_at=ends,
                 updated_at=updated, timeout=timeout, **kw)


# -- to_alert ----------------------------------------------------------------------------


def test_no_times_starts_now_and_times_out_after_resolve_timeout():
    a = to_alert(postable(annotations={"s": "x"}, generator_url="http://g"), 0, NOW, RT)
    assert a == Alert(
        fingerprint="", labels={"alertname": "A"}, annotations={"s": "x"},
        starts_at=NOW, ends_at=NOW + RT, generator_url="http://g", updated_at=NOW, timeout=True,
    )


def test_no_starts_at_takes_ends_at_when_given():
    a = to_alert(postable(ends_at=dt(NOW - 50)), 0, NOW, RT)
    assert isinstance(a, Alert)
    assert (a.starts_at, a.ends_at, a.timeout) == (NOW - 50, NOW - 50, False)
    assert a.resolved(NOW)


def test_given_times_are_kept():
    a = to_alert(postable(starts_at=dt(NOW - 100), ends_at=dt(NOW + 100)), 0, NOW, RT)
    assert (a.starts_at, a.ends_at, a.timeout, a.updated_at) == (NOW - 100, NOW + 100, False, NOW)
    b = to_alert(postable(starts_at=dt(NOW - 100)), 0, NOW, RT)
    assert (b.starts_at, b.ends_at, b.timeout) == (NOW - 100, NOW + RT, True)


def test_go_zero_time_means_unset():
    zero = datetime(1, 1, 1, tzinfo=UTC)
    a = to_alert(postable(starts_at=zero, ends_at=zero), 0, NOW, RT)
    assert (a.starts_at, a.ends_at, a.timeout) == (NOW, NOW + RT, True)


def test_empty_valued_labels_are_removed_before_validation():
    a = to_alert(postable({"alertname": "A", "empty": "", "bad-name": ""}), 0, NOW, RT)
    assert a.labels == {"alertname": "A"}


@pytest.mark.parametrize("labels", [{}, {"alertname": ""}])
def test_no_labels_is_an_error(labels):
    err = to_alert(postable(labels), 4, NOW, RT)
    assert err == AlertError(4, "labels", "at least one label pair required")
    assert str(err) == "alerts[4].labels: at least one label pair required"


@pytest.mark.parametrize("name", ["foo-bar", "0abc", "a.b", "é"])
def test_invalid_label_name_names_the_field(name):
    err = to_alert(postable({"alertname": "A", name: "v"}), 2, NOW, RT)
    assert isinstance(err, AlertError)
    assert (err.index, err.field) == (2, f"labels.{name}")
    assert str(err) == f"alerts[2].labels.{name}: invalid label name {name!r}"


def test_invalid_annotation_name_names_the_field():
    err = to_alert(postable(annotations={"ok": "1", "not ok": "2"}), 1, NOW, RT)
    assert isinstance(err, AlertError)
    assert (err.index, err.field) == (1, "annotations.not ok")


def test_ends_before_starts_is_an_error():
    err = to_alert(postable(starts_at=dt(NOW), ends_at=dt(NOW - 1)), 3, NOW, RT)
    assert err == AlertError(3, "endsAt", "start time must be before end time")
    # Equal is fine: Alertmanager checks EndsAt.Before(StartsAt).
    ok = to_alert(postable(starts_at=dt(NOW), ends_at=dt(NOW)), 3, NOW, RT)
    assert isinstance(ok, Alert)


def test_rfc3339_with_offset_is_understood():
    p = msgspec.json.decode(
        b'{"labels":{"a":"b"},"startsAt":"2023-11-14T23:13:00+01:00",'
        b'"endsAt":"2023-11-14T22:14:00.5Z"}',
        type=PostableAlert,
    )
    a = to_alert(p, 0, NOW, RT)
    assert (a.starts_at, a.ends_at) == (NOW - 20, NOW + 40.5)


# -- merge -------------------------------------------------------------------------------


def test_merge_with_nothing_held_is_the_new_alert():
    new = alert(starts=NOW, ends=NOW + RT, updated=NOW)
    assert merge(None, new, NOW) is new


def test_merge_keeps_the_earliest_start():
    old = alert(starts=NOW - 100, ends=NOW + 100, updated=NOW - 100)
    new = alert(starts=NOW - 50, ends=NOW + 200, updated=NOW, annotations={"v": "new"})
    got = merge(old, new, NOW)
    assert (got.starts_at, got.ends_at, got.updated_at, got.annotations) == (
        NOW - 100, NOW + 200, NOW, {"v": "new"})


def test_explicit_end_wins_over_a_timeout_end():
    old = alert(starts=NOW - 100, ends=NOW + 1000, updated=NOW - 100, timeout=False)
    new = alert(starts=NOW - 100, ends=NOW + RT, updated=NOW, timeout=True)
    got = merge(old, new, NOW)
    assert got.ends_at == NOW + 1000


def test_timeout_end_does_not_win_over_a_newer_explicit_end():
    old = alert(starts=NOW - 100, ends=NOW + 1000, updated=NOW - 100, timeout=True)
    new = alert(starts=NOW - 100, ends=NOW + 50, updated=NOW, timeout=False)
    got = merge(old, new, NOW)
    assert (got.ends_at, got.timeout) == (NOW + 50, False)


def test_both_resolved_latest_end_wins():
    old = alert(starts=NOW - 100, ends=NOW - 10, updated=NOW - 5)
    new = alert(starts=NOW - 100, ends=NOW - 20, updated=NOW)
    assert merge(old, new, NOW).ends_at == NOW - 10


def test_younger_alert_is_the_base_whatever_the_argument_order():
    old = alert(starts=NOW - 100, ends=NOW + 100, updated=NOW, annotations={"v": "old-but-younger"})
    new = alert(starts=NOW - 50, ends=NOW + 200, updated=NOW - 10, annotations={"v": "new"})
    got = merge(old, new, NOW)
    assert got.annotations == {"v": "old-but-younger"}
    assert (got.starts_at, got.ends_at) == (NOW - 100, NOW + 200)


def test_non_overlapping_alert_replaces_the_held_one():
    old = alert(starts=NOW - 1000, ends=NOW - 500, updated=NOW - 500)
    new = alert(starts=NOW - 10, ends=NOW + RT, updated=NOW, timeout=True)
    assert merge(old, new, NOW) is new
    # Prometheus re-posting with the same startsAt and a later endsAt: no overlap either
    # (neither bound is strictly inside the held range), so the new one replaces it.
    held = alert(starts=NOW - 100, ends=NOW + 100, updated=NOW - 60)
    again = alert(starts=NOW - 100, ends=NOW + 160, updated=NOW)
    assert merge(held, again, NOW) is again


# -- through the runtime -----------------------------------------------------------------


async def test_repost_moving_only_ends_at_is_coalesced(tmp_path):
    labels = {"alertname": "A", "instance": "i"}
    fp = fingerprint(labels)
    async with running(CONFIG, tmp_path) as rt:
        starts = format_ts(rt.clock.now())
        ends1 = rt.clock.now() + 120
        await post(rt, {"labels": labels, "annotations": {"s": "1"}, "startsAt": starts,
                        "endsAt": format_ts(ends1)})
        (row,) = await rt.store.load_alerts()  # (a read waits for the journaled commit)
        commits = rt.store.commits
        assert row == rt.alerts.get(fp)
        assert rt.alerts.dirty == set()

        ends2 = rt.clock.now() + 180
        result = await post(rt, {"labels": labels, "annotations": {"s": "1"}, "startsAt": starts,
                                 "endsAt": format_ts(ends2)})
        assert (result.accepted, result.errors) == (1, [])
        assert rt.alerts.get(fp).ends_at == ends2
        assert rt.alerts.dirty == {fp}
        (row,) = await rt.store.load_alerts()
        assert rt.store.commits == commits
        assert row.ends_at == ends1

        await rt.persist_dirty()
        assert rt.alerts.dirty == set()
        (row,) = await rt.store.load_alerts()
        assert row.ends_at == ends2
        assert rt.store.commits == commits + 1


async def test_a_coalesced_write_that_fails_is_written_at_the_next_persist(tmp_path, backend):
    """A re-post answered 2xx whose new end time is written later: a failed write (the
    database refusing, or out of reach) keeps it to write, instead of dropping it."""
    labels = {"alertname": "A", "instance": "i"}
    fp = fingerprint(labels)
    async with running(CONFIG, tmp_path, store=backend.store()) as rt:
        starts = format_ts(rt.clock.now())
        await post(rt, {"labels": labels, "startsAt": starts, "endsAt": format_ts(rt.clock.now() + 120)})
        ends2 = rt.clock.now() + 180
        await post(rt, {"labels": labels, "startsAt": starts, "endsAt": format_ts(ends2)})
        assert rt.alerts.dirty == {fp}
        await rt.store.load_alerts()  # the first post's journaled commit done before writes fail
        backend.refuse_writes(True)
        with pytest.raises(StorageError):
            await rt.persist_dirty()
        assert rt.alerts.dirty == {fp}
        assert fp in rt.lifecycle.dirty
        backend.refuse_writes(False)
        await rt.persist_dirty()
        assert rt.alerts.dirty == set()
        (row,) = await rt.store.load_alerts()
        assert row.ends_at == ends2
        assert (await rt.store.latest_incident(fp)).occurrences == 2


async def test_repost_with_changed_annotation_is_written_at_once(tmp_path):
    labels = {"alertname": "A"}
    fp = fingerprint(labels)
    async with running(CONFIG, tmp_path) as rt:
        starts = format_ts(rt.clock.now())
        await post(rt, {"labels": labels, "annotations": {"s": "1"}, "startsAt": starts,
                        "endsAt": format_ts(rt.clock.now() + 120)})
        await rt.store.load_alerts()  # (a read waits for the journaled commit)
        commits = rt.store.commits
        await post(rt, {"labels": labels, "annotations": {"s": "2"}, "startsAt": starts,
                        "endsAt": format_ts(rt.clock.now() + 180)})
        assert rt.alerts.dirty == set()
        (row,) = await rt.store.load_alerts()
        assert rt.store.commits == commits + 1
        assert row.annotations == {"s": "2"}
        assert row == rt.alerts.get(fp)


async def test_resolving_repost_is_written_at_once(tmp_path):
    labels = {"alertname": "A"}
    async with running(CONFIG, tmp_path) as rt:
        starts = format_ts(rt.clock.now() - 60)
        await post(rt, {"labels": labels, "startsAt": starts})
        await post(rt, {"labels": labels, "startsAt": starts, "endsAt": format_ts(rt.clock.now())})
        assert rt.alerts.dirty == set()
        (row,) = await rt.store.load_alerts()
        assert row.ends_at == rt.clock.now()
        assert row.timeout is False


async def test_state_after_reopening_the_store(tmp_path):
    a = {"alertname": "A", "instance": "1"}
    b = {"alertname": "B"}
    async with running(CONFIG, tmp_path) as rt:
        now = rt.clock.now()
        await post(
            rt,
            {"labels": a, "annotations": {"s": "x"}, "startsAt": format_ts(now - 10),
             "endsAt": format_ts(now + 100), "generatorURL": "http://g/1"},
            {"labels": b},
        )
        # Only ends_at moves: held in memory, dirty; stop() persists it.
        await post(rt, {"labels": a, "annotations": {"s": "x"}, "startsAt": format_ts(now - 10),
                        "endsAt": format_ts(now + 400), "generatorURL": "http://g/1"})
        assert rt.alerts.dirty == {fingerprint(a)}
        before = {x.fingerprint: x for x in rt.alerts}

    async with running(CONFIG, tmp_path) as rt2:
        after = {x.fingerprint: x for x in rt2.alerts}
        assert after == before
        got = after[fingerprint(a)]
        assert (got.starts_at, got.ends_at, got.timeout) == (now - 10, now + 400, False)
        assert (got.annotations, got.generator_url) == ({"s": "x"}, "http://g/1")
        assert after[fingerprint(b)].timeout is True
        assert after[fingerprint(b)].ends_at == now + 300
        # Held alerts are routed again on start.
        assert sorted(g.key for g in rt2.dispatcher.groups.values()) == [
            '{}:{alertname="A"}', '{}:{alertname="B"}'
        ]


async def test_invalid_alerts_are_reported_and_valid_ones_kept(tmp_path):
    async with running(CONFIG, tmp_path) as rt:
        result = await post(
            rt,
            {"labels": {"alertname": "ok"}},
            {"labels": {"bad-name": "x"}},
            {"labels": {}},
        )
        assert result.accepted == 1
        assert [str(e) for e in result.errors] == [
            "alerts[1].labels.bad-name: invalid label name 'bad-name'",
            "alerts[2].labels: at least one label pair required",
        ]
        assert [x.labels for x in rt.alerts] == [{"alertname": "ok"}]
        assert rt.counters["alerts_received"] == 1
        assert rt.counters["alerts_invalid"] == 2


async def test_held_alerts_share_repeated_strings(tmp_path):
    """What alerts repeat is held once: a new alert's names and values are interned, and a
    re-post keeps the held alert's dicts instead of its own equal copies."""

    def posted(i: int) -> dict:
        # Built at run time, so that no two equal strings start out as one object.
        def new(*parts: str) -> str:
            return "".join(parts)

        return {"labels": {"alertname": new("Disk", "Full"), "instance": f"db{i}", "job": new("no", "de")},
                "annotations": {"summary": new("disk ", "almost full")},
                "generatorURL": new("http://prom/", "graph")}

    async with running(CONFIG, tmp_path) as rt:
        await post(rt, posted(1), posted(2))
        a1, a2 = (rt.alerts.get(fingerprint({"alertname": "DiskFull", "instance": f"db{i}",
                                             "job": "node"})) for i in (1, 2))
        assert a1.labels["alertname"] is a2.labels["alertname"]
        assert a1.labels["job"] is a2.labels["job"]
        assert a1.annotations["summary"] is a2.annotations["summary"]
        assert a1.generator_url is a2.generator_url

        await post(rt, posted(1))
        again = rt.alerts.get(a1.fingerprint)
        assert again.labels is a1.labels
        assert again.annotations is a1.annotations

        changed = posted(1) | {"annotations": {"summary": "now full"}}
        await post(rt, changed)
        now = rt.alerts.get(a1.fingerprint)
        assert now.labels is a1.labels
        assert now.annotations == {"summary": "now full"}
