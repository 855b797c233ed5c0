"""The bucketed series the dashboard's charts draw, the same on every backend: incidents per
bucket with their response-time sums, delivery attempts per receiver per bucket."""

from __future__ import annotations

import pytest

from tocsin.core.records import Incident
from tocsin.store import Attempt
from tocsin.store.series import AttemptBucket, IncidentBucket

H = 3600.0
#: An origin that is no whole number of hours, so buckets are counted from ``since``.
T0 = 1_700_000_123.0


def incident(i: str, fired_at: float, *, acked: float = 0.0, resolved: float = 0.0) -> Incident:
    return Incident(id=i, fingerprint=f"fp-{i}", labels={"alertname": "Down"},
                    state="resolved" if resolved else ("acknowledged" if acked else "firing"),
                    fired_at=fired_at, last_seen=fired_at, acknowledged_at=acked, resolved_at=resolved)


def attempt(at: float, receiver: str, error: str = "") -> Attempt:
    return Attempt(at=at, receiver=receiver, integration="webhook[0]", group_key="{}:{}", attempt=1,
                   status=None if error else 200, latency=0.1, error=error)


async def test_incidents_bucketed_from_since_with_response_sums(backend):
    async with backend.opened() as store:
        await store.save(incidents=[
            incident("before", T0 - 1),                       # outside, just before
            incident("a", T0),                                # bucket 0, its first instant
            incident("b", T0 + H - 0.001, acked=T0 + H + 59.999),  # bucket 0, its last instant
            incident("c", T0 + H, acked=T0 + H + 30, resolved=T0 + H + 90),  # bucket 1
            incident("d", T0 + 2.5 * H, resolved=T0 + 2.5 * H + 600),  # bucket 2, no ack
            incident("skew", T0 + 2.6 * H, acked=T0, resolved=T0),  # clock skew: counts as 0
            incident("after", T0 + 5 * H),                    # until is exclusive
        ])
        found = await store.incident_buckets(T0, T0 + 5 * H, H)
    assert found == [
        IncidentBucket(bucket=0, fired=2, acknowledged=1, ack_seconds=pytest.approx(60.0)),
        IncidentBucket(bucket=1, fired=1, acknowledged=1, ack_seconds=30.0, resolved=1, resolve_seconds=90.0),
        IncidentBucket(bucket=2, fired=2, acknowledged=1, ack_seconds=0.0, resolved=2,
                       resolve_seconds=pytest.approx(600.0)),
    ]


async def test_incident_buckets_of_a_day_and_an_empty_window(backend):
    async with backend.opened() as store:
        await store.save(incidents=[incident(str(i), T0 + i * 5 * H) for i in range(10)])
        days = await store.incident_buckets(T0, T0 + 3 * 24 * H, 24 * H)
        assert [(b.bucket, b.fired) for b in days] == [(0, 5), (1, 5)]
        assert await store.incident_buckets(T0 - 100 * H, T0 - 10 * H, H) == []
        with pytest.raises(ValueError, match="width must be positive"):
            await store.incident_buckets(T0, T0 + H, 0)


async def test_attempts_bucketed_per_receiver(backend):
    async with backend.opened() as store:
        for a in (attempt(T0 - 1, "team"), attempt(T0, "team"), attempt(T0 + 10, "team", "HTTP 500"),
                  attempt(T0 + 20, "ops"), attempt(T0 + H + 1, "team"), attempt(T0 + 3 * H, "ops")):
            await store.save_attempt(a)
        found = await store.attempt_buckets(T0, T0 + 3 * H, H)
    assert found == [
        AttemptBucket(bucket=0, receiver="ops", sent=1, failed=0),
        AttemptBucket(bucket=0, receiver="team", sent=1, failed=1),
        AttemptBucket(bucket=1, receiver="team", sent=1, failed=0),
    ]
