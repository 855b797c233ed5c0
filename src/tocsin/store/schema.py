"""The SQLite schema: its migrations, and applying them when the store opens.

Each migration is one script, applied once in its own transaction; ``PRAGMA
user_version`` records the last one applied. A database newer than this tocsin
(a version it does not know) is refused rather than written to.
"""

from __future__ import annotations

import aiosqlite
import structlog

from tocsin.store import StorageError

__all__ = ["MIGRATIONS", "migrate"]

log = structlog.get_logger("tocsin.store")

#: Schema versions, applied in order; ``PRAGMA user_version`` records the last.
MIGRATIONS: list[str] = [
    # 1: alerts and the notification log.
    """
    CREATE TABLE alerts (
        fingerprint TEXT PRIMARY KEY,
        body BLOB NOT NULL,
        ends_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX alerts_ends_at ON alerts (ends_at);
    CREATE TABLE nflog (
        group_key TEXT NOT NULL,
        receiver TEXT NOT NULL,
        integration TEXT NOT NULL,
        firing TEXT NOT NULL,
        resolved TEXT NOT NULL,
        sent_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (group_key, receiver, integration)
    );
    """,
    # 2: silences.
    """
    CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        body BLOB NOT NULL,
        ends_at REAL NOT NULL
    );
    """,
    # 3: delivery attempts and dead letters.
    """
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        receiver TEXT NOT NULL,
        integration TEXT NOT NULL,
        group_key TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status INTEGER,
        latency REAL NOT NULL,
        error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX attempts_at ON attempts (at);
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        receiver TEXT NOT NULL,
        integration TEXT NOT NULL,
        group_key TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        error TEXT NOT NULL,
        notification BLOB NOT NULL
    );
    """,
    # 4: incidents (the lifecycle of alerts) and their history.
    """
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        alertname TEXT NOT NULL,
        severity TEXT NOT NULL,
        fired_at REAL NOT NULL,
        acknowledged_at REAL NOT NULL,
        resolved_at REAL NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX incidents_fired_at ON incidents (fired_at);
    CREATE INDEX incidents_fingerprint ON incidents (fingerprint, fired_at);
    CREATE INDEX incidents_open ON incidents (state) WHERE state != 'resolved';
    CREATE TABLE history (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        alert_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        detail BLOB NOT NULL
    );
    CREATE INDEX history_alert ON history (alert_id, id);
    CREATE INDEX history_at ON history (at);
    CREATE INDEX attempts_receiver ON attempts (at, receiver);
    """,
    # 5: remediation runs (the audit record).
    """
    CREATE TABLE remediation_runs (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        remediation TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX remediation_runs_created ON remediation_runs (created_at);
    CREATE INDEX remediation_runs_pending ON remediation_runs (state) WHERE state = 'pending_approval';
    """,
    # 6: nothing queries alerts by end time; the index only cost a page write per alert write.
    """
    DROP INDEX IF EXISTS alerts_ends_at;
    """,
    # 7: the callbacks handled already (a PagerDuty event id, a Slack request), so that the
    # same signed request replayed later, even after a restart, changes nothing.
    """
    CREATE TABLE callback_ids (
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        seen_at REAL NOT NULL,
        PRIMARY KEY (source, id)
    ) WITHOUT ROWID;
    CREATE INDEX callback_ids_seen_at ON callback_ids (seen_at);
    """,
    # 8: heartbeats (dead man's switches): when each was last seen, and whether it is missing.
    """
    CREATE TABLE heartbeats (
        name TEXT NOT NULL,
        key TEXT NOT NULL,
        labels TEXT NOT NULL,
        last_seen REAL,
        missing INTEGER NOT NULL,
        PRIMARY KEY (name, key)
    ) WITHOUT ROWID;
    """,
    # 9: each config put in force, by hash and time, with the parts that route and mute
    # (what ``tocsin replay`` replays a window of history through).
    """
    CREATE TABLE configs (
        loaded_at REAL NOT NULL,
        hash TEXT NOT NULL,
        reason TEXT NOT NULL,
        routing TEXT NOT NULL,
        PRIMARY KEY (loaded_at, hash)
    ) WITHOUT ROWID;
    """,
    # 10: an open incident as it opened is implied by its alert's row, not a row of its own
    # (tocsin.store.implied); the view ``incidents`` is both.
    """
    ALTER TABLE incidents RENAME TO incident_rows;
    ALTER TABLE alerts ADD COLUMN incident TEXT;
    ALTER TABLE alerts ADD COLUMN fired_at REAL;
    ALTER TABLE alerts ADD COLUMN severity TEXT;
    ALTER TABLE alerts ADD COLUMN birth BLOB;
    CREATE INDEX alerts_fired_at ON alerts (fired_at) WHERE incident IS NOT NULL;
    CREATE VIEW incidents AS
        SELECT id, fingerprint, state, severity, fired_at, acknowledged_at, resolved_at, body,
               NULL AS birth
        FROM incident_rows
        UNION ALL
        SELECT incident, fingerprint, 'firing', severity, fired_at, 0.0, 0.0, body, birth
        FROM alerts WHERE incident IS NOT NULL;
    """,
    # 11: a notification's "notified" history is one row, its incidents' ids packed
    # (tocsin.store.notices), not a history row per alert.
    """
    CREATE TABLE notices (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        receiver TEXT NOT NULL,
        integration TEXT NOT NULL,
        event TEXT NOT NULL,
        firing BLOB NOT NULL,
        resolved BLOB NOT NULL,
        follows INTEGER NOT NULL
    );
    CREATE INDEX notices_at ON notices (at);
    """,
    # 12: the notification log is kept in the order of its key (WITHOUT ROWID), not beside
    # an index that held the group key, receiver and integration a second time.
    """
    CREATE TABLE nflog_keyed (
        group_key TEXT NOT NULL,
        receiver TEXT NOT NULL,
        integration TEXT NOT NULL,
        firing TEXT NOT NULL,
        resolved TEXT NOT NULL,
        sent_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (group_key, receiver, integration)
    ) WITHOUT ROWID;
    INSERT INTO nflog_keyed (group_key, receiver, integration, firing, resolved, sent_at, expires_at)
        SELECT group_key, receiver, integration, firing, resolved, sent_at, expires_at FROM nflog;
    DROP TABLE nflog;
    ALTER TABLE nflog_keyed RENAME TO nflog;
    """,
    # 13: the ingest journal's mark (tocsin.store.journal): this database's id, and the
    # last journal frame committed; a mark that does not follow the last is refused.
    """
    CREATE TABLE journal_mark (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        db BLOB NOT NULL,
        seq INTEGER NOT NULL
    );
    INSERT INTO journal_mark (id, db, seq) VALUES (1, randomblob(16), 0);
    CREATE TRIGGER journal_mark_follows BEFORE UPDATE OF seq ON journal_mark
        WHEN NEW.seq <> OLD.seq + 1
        BEGIN SELECT RAISE(ABORT, 'journal frames committed out of order'); END;
    """,
]


async def migrate(db: aiosqlite.Connection, path: str) -> None:
    """Bring the schema of ``db`` (at ``path``, for messages) up to the last migration."""
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = row[0] if row else 0
    if current > len(MIGRATIONS):
        raise StorageError(
            f"{path} has schema version {current}, newer than this tocsin knows "
            f"({len(MIGRATIONS)}); upgrade tocsin or use another database"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        await db.executescript(
            "BEGIN;\n" + MIGRATIONS[version - 1] + f"\nPRAGMA user_version={version};\nCOMMIT;"
        )
        log.info("schema migrated", version=version, path=path)
