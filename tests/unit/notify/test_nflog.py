"""The notification log: Alertmanager's DedupStage.needsUpdate, and persistence."""

from __future__ import annotations

import pytest

from tocsin.notify.nflog import NotificationLog, needs_update
from tocsin.store import NflogEntry

NOW = 1_700_000_000.0
REPEAT = 3600.0


def entry(firing=(), resolved=(), sent_at=NOW - 60.0) -> NflogEntry:
    return NflogEntry(
        group_key="{}:{}", receiver="r", integration="webhook[0]",
        firing=frozenset(firing), resolved=frozenset(resolved),
        sent_at=sent_at, expires_at=sent_at + 86400.0,
    )


def decide(e, firing=(), resolved=(), *, send_resolved=False, repeat=REPEAT, now=NOW) -> bool:
    return needs_update(
        e, frozenset(firing), frozenset(resolved),
        send_resolved=send_resolved, repeat_interval=repeat, now=now,
    )


# -- needs_update ----------------------------------------------------------------------


@pytest.mark.parametrize("send_resolved", [False, True])
def test_nothing_logged_notifies_only_when_something_fires(send_resolved):
    assert decide(None, {"a"}, send_resolved=send_resolved) is True
    assert decide(None, {"a"}, {"b"}, send_resolved=send_resolved) is True
    # Only resolved alerts and never told about them: the receiver has nothing to learn.
    assert decide(None, (), {"b"}, send_resolved=send_resolved) is False
    assert decide(None, (), (), send_resolved=send_resolved) is False


@pytest.mark.parametrize("send_resolved", [False, True])
def test_new_firing_alert_notifies(send_resolved):
    assert decide(entry(firing={"a"}), {"a", "b"}, send_resolved=send_resolved) is True
    # A previously resolved alert firing again is "new firing" too.
    assert decide(entry(firing={"a"}, resolved={"b"}), {"a", "b"}, send_resolved=send_resolved) is True


def test_firing_subset_without_send_resolved_waits_for_repeat():
    # b resolved; a still fires; the receiver does not want resolved notices.
    assert decide(entry(firing={"a", "b"}), {"a"}, {"b"}, send_resolved=False) is False
    # Same firing set as last time: nothing new.
    assert decide(entry(firing={"a", "b"}), {"a", "b"}, send_resolved=False) is False


def test_firing_subset_with_send_resolved_and_new_resolved_notifies():
    assert decide(entry(firing={"a", "b"}), {"a"}, {"b"}, send_resolved=True) is True


def test_send_resolved_with_already_notified_resolved_does_not_notify():
    e = entry(firing={"a"}, resolved={"b"})
    assert decide(e, {"a"}, {"b"}, send_resolved=True) is False
    # A resolved set that shrank (b left the group) is still a subset.
    assert decide(e, {"a"}, (), send_resolved=True) is False


@pytest.mark.parametrize("send_resolved", [False, True])
def test_all_resolved_after_firing_notifies_even_without_send_resolved(send_resolved):
    # The notice clears the firing alerts from the log, whatever send_resolved says.
    assert decide(entry(firing={"a", "b"}), (), {"a", "b"}, send_resolved=send_resolved) is True
    assert decide(entry(firing={"a"}), (), (), send_resolved=send_resolved) is True


@pytest.mark.parametrize("send_resolved", [False, True])
def test_all_resolved_when_last_notice_had_none_firing_does_not_notify(send_resolved):
    # Alerts fired and resolved between two flushes: the receiver never heard of them.
    e = entry(firing=(), resolved={"a"})
    assert decide(e, (), {"a", "c"}, send_resolved=send_resolved) is False
    assert decide(e, (), (), send_resolved=send_resolved) is False
    # ...even long after the repeat interval.
    assert decide(entry(resolved={"a"}, sent_at=NOW - 10 * REPEAT), (), {"c"},
                  send_resolved=send_resolved) is False


def test_repeat_interval_boundary_is_strict_like_alertmanager():
    # Alertmanager: entry.Timestamp.Before(now - repeat).
    assert decide(entry(firing={"a"}, sent_at=NOW - REPEAT + 1), {"a"}) is False
    assert decide(entry(firing={"a"}, sent_at=NOW - REPEAT), {"a"}) is False
    assert decide(entry(firing={"a"}, sent_at=NOW - REPEAT - 0.001), {"a"}) is True
    assert decide(entry(firing={"a", "b"}, sent_at=NOW - REPEAT - 1), {"a"}, {"b"}) is True


def test_repeat_applies_to_subset_with_send_resolved_too():
    e = entry(firing={"a"}, resolved={"b"}, sent_at=NOW - 2 * REPEAT)
    assert decide(e, {"a"}, {"b"}, send_resolved=True) is True


# -- NotificationLog -----------------------------------------------------------------


async def test_record_get_and_reload_through_the_store(backend):
    store = backend.store()
    await store.open()
    nflog = NotificationLog(store, retention=1000.0)
    assert nflog.get("g1", "r", "webhook[0]") is None

    await nflog.record("g1", "r", "webhook[0]", frozenset({"b", "a"}), frozenset({"c"}), NOW)
    await nflog.record("g1", "r", "log[0]", frozenset(), frozenset({"c"}), NOW + 5)
    await nflog.record("g2", "r", "webhook[0]", frozenset({"x"}), frozenset(), NOW + 10)
    # A second record for the same key replaces the first.
    await nflog.record("g2", "r", "webhook[0]", frozenset({"y"}), frozenset({"x"}), NOW + 20)

    got = nflog.get("g1", "r", "webhook[0]")
    assert got == NflogEntry(
        group_key="g1", receiver="r", integration="webhook[0]",
        firing=frozenset({"a", "b"}), resolved=frozenset({"c"}),
        sent_at=NOW, expires_at=NOW + 1000.0,
    )
    assert len(nflog) == 3
    await store.close()

    reopened = backend.store()
    await reopened.open()
    try:
        fresh = NotificationLog(reopened, retention=1000.0)
        fresh.load(await reopened.load_nflog(NOW))
        assert len(fresh) == 3
        assert fresh.get("g1", "r", "webhook[0]") == got
        assert fresh.get("g1", "r", "log[0]") == NflogEntry(
            group_key="g1", receiver="r", integration="log[0]",
            firing=frozenset(), resolved=frozenset({"c"}),
            sent_at=NOW + 5, expires_at=NOW + 1005.0,
        )
        g2 = fresh.get("g2", "r", "webhook[0]")
        assert g2 is not None
        assert (g2.firing, g2.resolved, g2.sent_at) == (frozenset({"y"}), frozenset({"x"}), NOW + 20)
        assert fresh.get("g2", "other", "webhook[0]") is None
    finally:
        await reopened.close()


async def test_gc_forgets_expired_entries_in_memory_and_in_the_store(backend):
    store = backend.store()
    await store.open()
    nflog = NotificationLog(store, retention=100.0)
    await nflog.record("old", "r", "i", frozenset({"a"}), frozenset(), NOW)          # expires NOW+100
    await nflog.record("new", "r", "i", frozenset({"a"}), frozenset(), NOW + 50)     # expires NOW+150

    await nflog.gc(NOW + 99)
    assert len(nflog) == 2

    await nflog.gc(NOW + 100)  # expires_at <= now is expired
    assert nflog.get("old", "r", "i") is None
    assert nflog.get("new", "r", "i") is not None
    assert len(nflog) == 1
    # The row is gone from the database, not only hidden by the load filter.
    assert [e.group_key for e in await store.load_nflog(0.0)] == ["new"]
    await store.close()

    reopened = backend.store()
    await reopened.open()
    try:
        fresh = NotificationLog(reopened)
        fresh.load(await reopened.load_nflog(NOW + 100))
        assert len(fresh) == 1
        assert fresh.get("new", "r", "i") is not None
    finally:
        await reopened.close()
