"""Silences: Alertmanager's create / update / expire semantics, muting, persistence."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest

from tocsin.core.matchers import parse_matchers
from tocsin.mute.silences import Silence, SilenceError, SilenceMatcher, SilenceNotFound, Silences
from tocsin.store.sqlite import MIGRATIONS, SQLiteStore
from tocsin.testing import NotificationRecorder, advance, post, running

NOW = 1_700_000_000.0
M_A = (SilenceMatcher("alertname", "DiskFull"),)


@pytest.fixture
async def store(backend):
    async with backend.opened() as s:
        yield s


def sil(matchers=M_A, start=NOW, end=NOW + 3600, **kw) -> Silence:
    return Silence(matchers=tuple(matchers), starts_at=start, ends_at=end,
                   created_by="ops", comment="c", **kw)


async def test_create_assigns_an_id_and_clamps_start_to_now(store):
    s = Silences(store)
    sid = await s.set(sil(start=NOW - 600), NOW)
    got = s.get(sid)
    assert len(sid) == 36
    assert got.starts_at == NOW
    assert got.updated_at == NOW
    assert got.state(NOW) == "active"
    assert got.state(NOW - 1) == "pending"
    assert got.state(NOW + 3600) == "expired"


@pytest.mark.parametrize(("silence", "message"), [
    (sil(matchers=()), "at least one matcher required"),
    (sil(matchers=(SilenceMatcher("a", ".*", is_regex=True),)), "must not match the empty string"),
    (sil(matchers=(SilenceMatcher("a", ""),)), "must not match the empty string"),
    (sil(matchers=(SilenceMatcher("bad-name", "x"),)), "invalid label name"),
    (sil(matchers=(SilenceMatcher("a", "(x", is_regex=True),)), "invalid regex"),
    (sil(start=NOW + 10, end=NOW + 10), "start time must be before end time"),
    (sil(start=NOW - 100, end=NOW - 50), "end time can't be in the past"),
])
async def test_invalid_silences_are_refused(store, silence, message):
    with pytest.raises(SilenceError, match=message):
        await Silences(store).set(silence, NOW)


async def test_negative_only_silences_need_the_flag(store):
    """Alertmanager 0.25 counts a negative matcher as never matching the empty string, and
    so accepts ``env!="prod"`` alone; tocsin does with ``silences.allow_negative_only``."""
    s = Silences(store)
    negative = sil(matchers=(SilenceMatcher("env", "prod", is_equal=False),))
    with pytest.raises(SilenceError, match="allow_negative_only"):
        await s.set(negative, NOW)
    s.allow_negative_only = True
    assert s.get(await s.set(negative, NOW)).matchers == negative.matchers
    regex = sil(matchers=(SilenceMatcher("env", "p.*", is_regex=True, is_equal=False),))
    await s.set(regex, NOW)
    # What matches the empty string by Alertmanager's own test stays refused.
    for matchers in ((SilenceMatcher("env", ""),), (SilenceMatcher("env", "x|", is_regex=True),)):
        with pytest.raises(SilenceError, match=r"must not match the empty string$"):
            await s.set(sil(matchers=matchers), NOW)


async def test_negative_matcher_alongside_a_positive_one_is_fine(store):
    s = Silences(store)
    sid = await s.set(sil(matchers=(SilenceMatcher("a", "x"), SilenceMatcher("b", "", is_equal=False))),
                      NOW)
    assert s.mutes({"a": "x", "b": "y"}, NOW) == [sid]
    assert s.mutes({"a": "x"}, NOW) == []  # b="" fails b!=""


async def test_update_in_place_when_matchers_unchanged_and_allowed(store):
    s = Silences(store)
    sid = await s.set(sil(), NOW)
    # Active: extending the end keeps the id.
    same = await s.set(msgspec.structs.replace(s.get(sid), ends_at=NOW + 7200, comment="longer"), NOW + 60)
    assert same == sid
    assert s.get(sid).ends_at == NOW + 7200
    assert s.get(sid).comment == "longer"
    assert len(s) == 1


async def test_changed_matchers_expire_the_old_and_make_a_new_one(store):
    s = Silences(store)
    sid = await s.set(sil(), NOW)
    new_id = await s.set(
        msgspec.structs.replace(s.get(sid), matchers=(SilenceMatcher("alertname", "Other"),)), NOW + 60)
    assert new_id != sid
    assert s.get(sid).state(NOW + 60) == "expired"
    assert s.get(sid).ends_at == NOW + 60
    assert s.get(new_id).state(NOW + 60) == "active"


async def test_moving_an_active_silences_start_makes_a_new_one(store):
    s = Silences(store)
    sid = await s.set(sil(), NOW)
    new_id = await s.set(msgspec.structs.replace(s.get(sid), starts_at=NOW + 10), NOW + 5)
    assert new_id != sid


async def test_updating_an_expired_silence_makes_a_new_one(store):
    s = Silences(store)
    sid = await s.set(sil(end=NOW + 60), NOW)
    new_id = await s.set(msgspec.structs.replace(s.get(sid), ends_at=NOW + 7200), NOW + 120)
    assert new_id != sid
    assert s.get(new_id).state(NOW + 120) == "active"


async def test_unknown_id_is_not_found(store):
    with pytest.raises(SilenceNotFound):
        await Silences(store).set(sil(id="nope"), NOW)


async def test_expire_active_pending_and_expired(store):
    s = Silences(store)
    active = await s.set(sil(), NOW)
    pending = await s.set(sil(start=NOW + 600, end=NOW + 1200), NOW)
    await s.expire(active, NOW + 10)
    assert s.get(active).ends_at == NOW + 10
    await s.expire(pending, NOW + 10)
    assert (s.get(pending).starts_at, s.get(pending).ends_at) == (NOW + 10, NOW + 10)
    before = s.get(active)
    await s.expire(active, NOW + 20)  # already expired: nothing changes, no error
    assert s.get(active) == before
    with pytest.raises(SilenceNotFound):
        await s.expire("missing", NOW)


async def test_query_filters_on_silence_matchers_and_orders_like_alertmanager(store):
    s = Silences(store)
    a1 = await s.set(sil(end=NOW + 500), NOW)
    a2 = await s.set(sil(end=NOW + 100), NOW)
    p1 = await s.set(sil(start=NOW + 300, end=NOW + 900), NOW)
    e1 = await s.set(sil(end=NOW + 10), NOW)
    other = await s.set(sil(matchers=(SilenceMatcher("job", "db"),)), NOW)
    at = NOW + 50
    ids = [x.id for x in s.query([], at)]
    assert ids == [a2, a1, other, p1, e1]
    # A filter finds the silences with that very matcher (name, operator and text), as
    # Alertmanager 0.25 compares them; it is not applied to their values.
    assert [x.id for x in s.query(parse_matchers('alertname=~"Disk.*"'), at)] == []
    assert [x.id for x in s.query(parse_matchers('alertname="DiskFull"'), at)] == [a2, a1, p1, e1]
    assert [x.id for x in s.query(parse_matchers("job=db"), at)] == [other]
    assert s.query(parse_matchers("job!=db"), at) == []
    regex = await s.set(sil(matchers=(SilenceMatcher("inst", "1|3", is_regex=True),)), NOW)
    assert [x.id for x in s.query(parse_matchers('inst=~"1|3"'), at)] == [regex]
    assert s.query(parse_matchers('inst=~"1.*"'), at) == []
    assert s.query(parse_matchers('inst="1|3"'), at) == []


async def test_persisted_and_collected_after_retention(backend):
    store = backend.store()
    await store.open()
    s = Silences(store, retention=3600)
    sid = await s.set(sil(end=NOW + 60), NOW)
    await store.close()

    store = backend.store()
    await store.open()
    s = Silences(store, retention=3600)
    s.load(await store.load_silences())
    assert s.get(sid).comment == "c"
    assert await s.gc(NOW + 60 + 3599) == 0
    assert await s.gc(NOW + 60 + 3600) == 1
    assert await store.load_silences() == []
    await store.close()


async def test_version_1_database_is_migrated_keeping_its_alerts(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + "\nPRAGMA user_version=1;")
        db.execute("INSERT INTO alerts VALUES ('fp', ?, 1.0, 1.0)",
                   (b'{"fingerprint":"fp","labels":{"a":"b"},"starts_at":1.0,"ends_at":2.0}',))
    store = SQLiteStore(path)
    await store.open()
    assert [a.fingerprint for a in await store.load_alerts()] == ["fp"]
    assert await store.load_silences() == []
    await store.close()


CONFIG = """
route:
  receiver: r
  group_by: [alertname]
  group_wait: 30s
  group_interval: 1m
receivers:
  - name: r
"""


async def test_silence_made_after_the_alert_mutes_at_next_flush_and_expiry_unmutes(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "DiskFull", "i": "1"}},
                   {"labels": {"alertname": "DiskFull", "i": "2"}})
        now = rt.clock.now()
        sid = await rt.silences.set(
            sil(matchers=(SilenceMatcher("i", "1"),), start=now, end=now + 120), now)
        await advance(rt, 30)
        assert [a.labels["i"] for a in rec.notifications[-1].alerts] == ["2"]
        await advance(rt, 60)
        await rt.silences.expire(sid, rt.clock.now())
        await advance(rt, 60)
        assert [a.labels["i"] for a in rec.notifications[-1].alerts] == ["1", "2"]


async def test_fully_silenced_group_sends_nothing_not_even_an_empty_resolved_notice(tmp_path):
    rec = NotificationRecorder()
    async with running(CONFIG, tmp_path, plugins=[rec]) as rt:
        await post(rt, {"labels": {"alertname": "DiskFull", "i": "1"}})
        await advance(rt, 30)
        assert len(rec.notifications) == 1
        now = rt.clock.now()
        await rt.silences.set(sil(start=now, end=now + 3600), now)
        await advance(rt, 60)
        await advance(rt, 60)
        assert len(rec.notifications) == 1
