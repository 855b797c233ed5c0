"""The report of two replays: per receiver what moved, groups split and merged, mutes
and their reasons, first-notification times; paging changes most severe first."""

from __future__ import annotations

from tocsin.core.records import Incident
from tocsin.replay.report import compare
from tocsin.replay.sim import Recording, Sent


def inc(i: str, severity: str, fired_at: float = 100.0) -> Incident:
    return Incident(id=i, fingerprint=f"fp-{i}", labels={"alertname": f"A{i}", "severity": severity},
                    fired_at=fired_at, last_seen=fired_at)


def sent(at: float, receiver: str, group: str, *firing: str) -> Sent:
    return Sent(at=at, receiver=receiver, integration="webhook[0]", group_key=group, group_interval=60.0,
                firing=firing, resolved=())


INCIDENTS = {i.id: i for i in (inc("1", "warning"), inc("2", "critical"), inc("3", "info"),
                               inc("4", "page"), inc("5", "critical", fired_at=50.0))}


def test_the_same_recordings_differ_in_nothing():
    rec = Recording(sent=[sent(130, "db", "g", "1", "2")], muted={("db", "3"): {"silence:s1"}})
    report = compare(rec, rec, INCIDENTS)
    assert report["differs"] is False
    assert report["receivers"] == []
    assert report["paging_changed"] == []


def test_what_moved_per_receiver_and_the_paging_changes_most_severe_first():
    old = Recording(sent=[sent(130, "db", "g", "1", "2"), sent(130, "ops", "o", "3"),
                          sent(130, "db", "h", "5")],
                    muted={("ops", "4"): {"silence:s1"}})
    new = Recording(sent=[sent(130, "db", "g1", "1"), sent(190, "db", "g2", "2"), sent(130, "ops", "o", "4"),
                          sent(130, "web", "w", "3", "5")],
                    muted={("db", "5"): {"inhibition:fp-9"}})
    report = compare(old, new, INCIDENTS)
    assert report["differs"] is True
    by = {r["receiver"]: r for r in report["receivers"]}
    assert sorted(by) == ["db", "ops", "web"]
    db = by["db"]
    assert db["notifications"] == {"old": 2, "new": 2}
    assert db["no_longer_reaching"] == ["5"]
    assert db["newly_muted"] == [{"alert": "5", "by": ["inhibition:fp-9"]}]
    assert db["groups_split"] == [{"group": "g", "into": ["g1", "g2"]}]
    assert db["first_notification"] == {"alerts": 2, "changed": 1, "median_old_s": 30.0, "median_new_s": 60.0}
    ops = by["ops"]
    assert ops["newly_reaching"] == ["4"]
    assert ops["no_longer_reaching"] == ["3"]
    assert ops["unmuted"] == [{"alert": "4", "was": ["silence:s1"]}]
    assert by["web"]["newly_reaching"] == ["3", "5"]
    assert by["web"]["groups_merged"] == []  # alerts reaching it under NEW only: no old groups
    paging = report["paging_changed"]
    assert [(p["alert"], p["severity"]) for p in paging] == [
        ("5", "critical"), ("3", "info"), ("4", "page")]  # known levels first, an unknown one last
    assert paging[0]["receivers_old"] == ["db"]
    assert paging[0]["receivers_new"] == ["web"]
    assert set(report["alerts"]) == {"3", "4", "5"}


def test_groups_merged():
    old = Recording(sent=[sent(130, "db", "a", "1"), sent(130, "db", "b", "2")])
    new = Recording(sent=[sent(130, "db", "ab", "1", "2")])
    [db] = compare(old, new, INCIDENTS)["receivers"]
    assert db["groups_merged"] == [{"group": "ab", "from": ["a", "b"]}]
    assert db["notifications"] == {"old": 2, "new": 1}
