"""Every record a store keeps, written and read back the same on every backend: incidents and
their history, delivery attempts, dead letters, remediation runs, silences; the queries'
filters, order and paging; retention; one transaction for a whole save."""

from __future__ import annotations

import msgspec
import pytest

from tocsin.core.models import Alert, Notification
from tocsin.core.records import Escalation, HistoryEvent, Incident, RemediationRun, Silence, SilenceMatcher
from tocsin.store import Attempt, AttemptCount, DeadLetter, IncidentQuery, StorageError, rows


def incident(i: str, fired_at: float, state: str = "firing", severity: str = "page", fp: str = "",
             resolved_at: float = 0.0, alertname: str = "Down") -> Incident:
    return Incident(id=i, fingerprint=fp or f"fp-{i}", labels={"alertname": alertname, "severity": severity},
                    state=state, fired_at=fired_at, last_seen=fired_at + 1, resolved_at=resolved_at)


def event(alert_id: str, at: float, kind: str, actor: str = "", **detail: object) -> HistoryEvent:
    return HistoryEvent(at=at, alert_id=alert_id, fingerprint=f"fp-{alert_id}", kind=kind, actor=actor,
                        detail=dict(detail))


def run(i: str, created_at: float, state: str = "succeeded") -> RemediationRun:
    return RemediationRun(id=i, remediation="restart", kind="command", fingerprint="fp", state=state,
                          trigger="route r0", created_at=created_at)


def attempt(at: float, receiver: str = "team", error: str = "", status: int | None = 200) -> Attempt:
    return Attempt(at=at, receiver=receiver, integration="webhook[0]", group_key="{}:{}", attempt=1,
                   status=status, latency=0.25, error=error)


def dead_letter(i: int, error: str = "HTTP 500") -> DeadLetter:
    alert = Alert(fingerprint="f1", labels={"alertname": "A"}, starts_at=1.0, ends_at=0.0)
    return DeadLetter(id=i, at=100.0 + i, receiver="team", integration="webhook[0]", group_key="{}:{}",
                      attempts=3, error=error,
                      notification=Notification(receiver="team", group_key="{}:{}",
                                                group_labels={"alertname": "A"}, alerts=[alert], now=5.0))


# -- incidents ----------------------------------------------------------------------------


async def test_incidents_by_id_fingerprint_and_state(backend):
    async with backend.opened() as store:
        await store.save(incidents=[
            incident("i1", 100.0, fp="same"), incident("i2", 200.0, fp="same", state="acknowledged"),
            incident("i3", 300.0, state="resolved", resolved_at=310.0),
        ])
    async with backend.opened() as store:
        assert await store.get_incident("i2") == incident("i2", 200.0, fp="same", state="acknowledged")
        assert await store.get_incident("nope") is None
        assert (await store.latest_incident("same")).id == "i2"
        assert await store.latest_incident("other") is None
        assert sorted(i.id for i in await store.load_open_incidents()) == ["i1", "i2"]


async def test_incident_queries_filter_order_and_page(backend):
    found = [incident(f"i{n}", 100.0 * n, severity="page" if n % 2 else "info",
                      state="resolved" if n == 4 else "firing") for n in range(1, 7)]
    found.append(incident("i0", 300.0))  # the same time as i3: ids break the tie
    async with backend.opened() as store:
        await store.save(incidents=found)

        async def ids(**kw: object) -> list[str]:
            return [i.id for i in await store.query_incidents(IncidentQuery(**kw))]

        assert await ids() == ["i6", "i5", "i4", "i0", "i3", "i2", "i1"]
        assert await ids(states=("resolved",)) == ["i4"]
        assert await ids(severities=("page",)) == ["i5", "i0", "i3", "i1"]
        assert await ids(severities=("info", "page"), states=("firing",)) == [
            "i6", "i5", "i0", "i3", "i2", "i1"]
        assert await ids(since=200.0, until=400.0) == ["i0", "i3", "i2"]  # since <= fired_at < until
        assert await ids(limit=2) == ["i6", "i5"]
        assert await ids(limit=2, offset=3) == ["i0", "i3"]
        assert await ids(limit=10, offset=7) == []


async def test_a_save_is_one_transaction(backend):
    async with backend.opened() as store:
        backend.refuse_writes(True)  # inserts into alerts fail
        alert = Alert(fingerprint="f", labels={"alertname": "A"}, starts_at=1.0, ends_at=2.0)
        with pytest.raises(StorageError, match="writes refused by the test"):
            await store.save(alerts=[alert], incidents=[incident("i1", 1.0)],
                             history=[event("i1", 1.0, "fired")], runs=[run("r1", 1.0)])
        backend.refuse_writes(False)
        assert await store.get_incident("i1") is None
        assert await store.load_history("i1") == []
        assert await store.get_run("r1") is None


# -- history ------------------------------------------------------------------------------


async def test_history_in_order_with_ids_by_incident_and_by_time(backend):
    async with backend.opened() as store:
        await store.save(history=[event("i1", 10.0, "fired", source="api_v2"),
                                  event("i2", 11.0, "fired"),
                                  event("i1", 12.0, "acknowledged", actor="ana", note="on it")])
        await store.save(history=[event("i1", 13.0, "resolved")])
    async with backend.opened() as store:
        mine = await store.load_history("i1")
        assert [(h.kind, h.actor, h.detail) for h in mine] == [
            ("fired", "", {"source": "api_v2"}), ("acknowledged", "ana", {"note": "on it"}),
            ("resolved", "", {})]
        assert all(h.id > 0 for h in mine)
        assert [h.id for h in mine] == sorted(h.id for h in mine)
        assert [h.at for h in await store.history_between(11.0, 13.0)] == [11.0, 12.0]
        assert [h.alert_id for h in await store.history_between(0.0, 100.0, kinds=("fired",))] == ["i1", "i2"]


async def test_retention_forgets_old_history_resolved_incidents_and_finished_runs(backend):
    async with backend.opened() as store:
        await store.save(
            incidents=[incident("old-resolved", 10.0, state="resolved", resolved_at=20.0),
                       incident("old-open", 10.0), incident("new-resolved", 10.0, state="resolved",
                                                               resolved_at=200.0)],
            history=[event("old-open", 10.0, "fired"), event("old-open", 150.0, "seen")],
            runs=[run("r-old", 10.0), run("r-waiting", 10.0, state="pending_approval"), run("r-new", 150.0)],
        )
        await store.expire_history(100.0)
        assert await store.get_incident("old-resolved") is None
        assert await store.get_incident("old-open") is not None
        assert await store.get_incident("new-resolved") is not None
        assert [h.kind for h in await store.load_history("old-open")] == ["seen"]
        assert await store.get_run("r-old") is None
        assert [r.id for r in await store.query_runs()] == ["r-waiting", "r-new"]


# -- remediation runs -----------------------------------------------------------------------


async def test_runs_by_id_age_and_state_newest_first(backend):
    async with backend.opened() as store:
        await store.save(runs=[run("r1", 10.0), run("r2", 20.0, state="pending_approval"), run("r3", 30.0),
                               run("r4", 40.0, state="failed")])
        await store.save(runs=[run("r3", 30.0, state="failed")])  # replaced
    async with backend.opened() as store:
        assert await store.get_run("r3") == run("r3", 30.0, state="failed")
        assert await store.get_run("nope") is None
        # Since 30, and every run awaiting approval however old.
        assert sorted(r.id for r in await store.load_runs(30.0)) == ["r2", "r3", "r4"]
        assert [r.id for r in await store.query_runs()] == ["r4", "r3", "r2", "r1"]
        assert [r.id for r in await store.query_runs(states=("failed",))] == ["r4", "r3"]
        assert [r.id for r in await store.query_runs(limit=2, offset=1)] == ["r3", "r2"]


# -- delivery attempts and dead letters -------------------------------------------------------


async def test_attempts_newest_first_counted_and_expired(backend):
    async with backend.opened() as store:
        for n in range(5):
            await store.save_attempt(attempt(10.0 + n, error="" if n % 2 == 0 else "timeout",
                                             status=200 if n % 2 == 0 else None))
        await store.save_attempt(attempt(12.5, receiver="other"))
    async with backend.opened() as store:
        latest = await store.load_attempts(limit=3)
        assert [a.at for a in latest] == [12.5, 14.0, 13.0]
        assert (latest[2].status, latest[2].error) == (None, "timeout")
        assert latest[2].id > 0
        assert latest[0] == Attempt(id=latest[0].id, at=12.5, receiver="other", integration="webhook[0]",
                                    group_key="{}:{}", attempt=1, status=200, latency=0.25)
        assert await store.attempt_counts(10.0, 14.0) == [
            AttemptCount(receiver="other", integration="webhook[0]", sent=1, failed=0),
            AttemptCount(receiver="team", integration="webhook[0]", sent=2, failed=2),
        ]
        assert await store.attempt_counts(100.0, 200.0) == []
        await store.expire_attempts(13.0)
        assert sorted(a.at for a in await store.load_attempts()) == [13.0, 14.0]


async def test_dead_letters_replaced_by_id_ordered_and_deleted_together(backend):
    async with backend.opened() as store:
        for i in (3, 1, 2):
            await store.save_dead_letter(dead_letter(i))
        await store.save_dead_letter(dead_letter(2, error="HTTP 503"))
    async with backend.opened() as store:
        assert await store.load_dead_letters() == [dead_letter(1), dead_letter(2, error="HTTP 503"),
                                                   dead_letter(3)]
        await store.delete_dead_letters([1, 3, 99])
        assert await store.load_dead_letters() == [dead_letter(2, error="HTTP 503")]


# -- silences -------------------------------------------------------------------------------


async def test_silences_saved_replaced_and_deleted(backend):
    def silence(i: str, comment: str) -> Silence:
        return Silence(id=i, matchers=(SilenceMatcher("alertname", "A"),), starts_at=1.0, ends_at=9.0,
                       created_by="ana", comment=comment)

    async with backend.opened() as store:
        await store.save_silences([silence("s1", "a"), silence("s2", "b")])
        await store.save_silences([silence("s1", "changed")])
    async with backend.opened() as store:
        assert sorted((s.id, s.comment) for s in await store.load_silences()) == [("s1", "changed"),
                                                                                 ("s2", "b")]
        await store.delete_silences(["s2", "unknown"])
        assert [s.id for s in await store.load_silences()] == ["s1"]


# -- what text columns hold -----------------------------------------------------------------


async def test_a_nul_in_a_label_value_is_written_and_its_record_read_back_whole(backend):
    """PostgreSQL's text cannot hold NUL: the columns beside the body get U+FFFD there, the
    record (its body) keeps it, and the write goes through on both."""
    odd = incident("i1", 1.0, alertname="Disk\0Full", severity="pa\0ge")
    async with backend.opened() as store:
        await store.save(incidents=[odd], history=[event("i1", 1.0, "acknowledged", actor="an\0a")])
        await store.save_callback_id("slack", "id\0x", 5.0)
    async with backend.opened() as store:
        assert await store.get_incident("i1") == odd
        [h] = await store.load_history("i1")
        assert h.actor == ("an\ufffda" if backend.name == "postgresql" else "an\0a")
        assert await store.callback_seen("slack", "id\0x") == 5.0


async def test_alerts_and_incidents_are_read_back_whole_from_packed_bodies_and_from_json_ones(backend):
    """Alert and incident bodies are packed arrays without their key columns; a body an
    earlier tocsin wrote as JSON (the whole record) still reads."""
    alert = Alert(fingerprint="f1", labels={"alertname": "A", "nul": "x\x00y"}, annotations={"s": "é"},
                  starts_at=1.5, ends_at=2.5, generator_url="http://g/", updated_at=3.25, timeout=True)
    full = msgspec.structs.replace(
        incident("i1", 10.0, state="acknowledged", fp="f1"), occurrences=3, acknowledged_at=11.0,
        acknowledged_by="ann", ack_note="on it", ack_until=99.0, starts_at=9.0, muted_by=["silence:s1"],
        escalation=Escalation(policy="p", route_id="r", receiver="team", group_key="{}:{}",
                              group_labels={"alertname": "A"}, step=2, next_at=50.0))
    old_alert = Alert(fingerprint="f2", labels={"alertname": "B"}, starts_at=1.0, ends_at=0.0)
    old_incident = incident("i2", 20.0, fp="f2")
    json = msgspec.json.encode
    async with backend.opened() as store:
        await store.save(alerts=[alert], incidents=[full])
        await store.import_rows("alerts", [("f2", json(old_alert), 0.0, 0.0, None, None, None, None)])
        await store.import_rows("incident_rows", [("i2", "f2", "firing", "B", "page", 20.0, 0.0, 0.0,
                                               json(old_incident))])
    async with backend.opened() as store:
        assert sorted(await store.load_alerts(), key=lambda a: a.fingerprint) == [alert, old_alert]
        assert await store.get_incident("i1") == full
        assert await store.get_incident("i2") == old_incident
        assert await store.latest_incident("f1") == full
        assert sorted(await store.load_open_incidents(), key=lambda i: i.id) == [full, old_incident]


#: A value unlike each field type's default, for a record with every field set.
SAMPLES: dict[object, object] = {
    str: "x", float: 7.5, int: 7, bool: True, dict[str, str]: {"k": "v"}, list[str]: ["m"],
    Escalation | None: Escalation(policy="p", route_id="r", receiver="team", group_key="{}:{}",
                                  group_labels={"alertname": "A"}, step=2, next_at=50.0),
}


def test_every_field_of_an_alert_and_an_incident_is_read_back_from_its_packed_body():
    """The readers name each field: one added to Alert or Incident and not read back fails
    here (and one of a type without a sample, until it has one)."""
    full_alert, full_incident = (record(**{f.name: SAMPLES[f.type] for f in msgspec.structs.fields(record)})
                                 for record in (Alert, Incident))
    assert rows.alert(full_alert.fingerprint, rows.alert_rows([full_alert])[0][1]) == full_alert
    row = rows.incident_rows([full_incident])[0]
    assert rows.incident((row[0], row[1], row[-1], row[5], None)) == full_incident


def test_a_packed_body_without_the_fields_added_since_reads_with_their_defaults():
    """Fields added to Incident go last: an older, shorter packed body takes their defaults."""
    inc = incident("i1", 10.0, fp="f1")
    body = msgspec.msgpack.encode(msgspec.structs.astuple(inc)[2:-2])  # without muted_by, escalation
    assert rows.incident(("i1", "f1", body, 10.0, None)) == inc


async def test_open_incidents_loaded_after_their_alerts_hold_the_alerts_labels(backend):
    """One labels dict per alert in memory after a restart, as after ingest."""
    alert = Alert(fingerprint="f1", labels={"alertname": "Down", "severity": "page"},
                  starts_at=1.0, ends_at=0.0)
    other = incident("i2", 20.0, fp="f2")  # no alert of its own: its labels stay its own
    async with backend.opened() as store:
        await store.save(alerts=[alert], incidents=[incident("i1", 10.0, fp="f1"), other])
    async with backend.opened() as store:
        (held,) = await store.load_alerts()
        found = {i.id: i for i in await store.load_open_incidents()}
    assert found["i1"].labels is held.labels
    assert found["i2"].labels == other.labels
