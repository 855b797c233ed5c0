"""Helpers for testing tocsin and tocsin plugins without sleeping.

    async with running(CONFIG, tmp_path, plugins=[recorder]) as rt:
        await post(rt, {"labels": {"alertname": "X"}})
        await advance(rt, 30)          # group_wait passes on the fake clock
        assert recorder.notifications

``running`` starts a real :class:`~tocsin.runtime.Runtime` (real SQLite
store, real dispatcher and delivery) on a :class:`~tocsin.core.clock.FakeClock`.

- a runtime and its drivers (:mod:`~tocsin.testing.harness`): ``running``, ``api_client``,
  ``post``, ``advance``, ``make_config``, ``make_plugins``, the recorders
  ``NotificationRecorder`` and ``EventRecorder``, and what a plugin's tests look up:
  ``installed_plugin``, ``channel_kind``, ``remediation_kind``, ``channel_config``,
  ``dead_letters``, ``remediation_runs``;
- ``wait_until`` (:mod:`~tocsin.testing.waiting`): wait, within a bound, for what other
  tasks or processes do;
- ``RecordingServer`` (:mod:`~tocsin.testing.receiver`): a local HTTP receiver that answers
  as told or hangs;
- ``FakeChannel`` (:mod:`~tocsin.testing.fakechannel`): a channel kind that records sends
  and fails or hangs when told;
- ``instant_retries`` and ``no_jitter`` (:mod:`~tocsin.testing.retries`): retries without
  waiting, and backoff without jitter;
- ``serving`` (:mod:`~tocsin.testing.process`): ``tocsin serve`` as a subprocess;
- ``PostgresServer`` (:mod:`~tocsin.testing.postgres`): a real PostgreSQL server (initdb,
  pg_ctl) in a temporary directory, and an empty database per test.

The pytest fixtures (``tocsin_daemon``, ``tocsin_receiver``, ``tocsin_clock``,
``tocsin_postgres``, ``tocsin_postgres_url``) are in
:mod:`~tocsin.testing.pytest_plugin`.
"""

from __future__ import annotations

from tocsin.config.document import ConfigError
from tocsin.core.clock import FakeClock
from tocsin.testing.fakechannel import FakeChannel, FakeChannelConfig, FakeSend
from tocsin.testing.harness import (
    EventRecorder,
    NotificationRecorder,
    advance,
    api_client,
    channel_config,
    channel_kind,
    dead_letters,
    installed_plugin,
    make_config,
    make_plugins,
    post,
    remediation_kind,
    remediation_runs,
    running,
)
from tocsin.testing.process import serving
from tocsin.testing.receiver import RecordingServer
from tocsin.testing.retries import RetryWaits, instant_retries, no_jitter
from tocsin.testing.waiting import wait_until

__all__ = [
    "ConfigError", "EventRecorder", "FakeChannel", "FakeChannelConfig", "FakeClock", "FakeSend",
    "NotificationRecorder", "RecordingServer", "RetryWaits", "advance", "api_client", "channel_config",
    "channel_kind", "dead_letters", "installed_plugin", "instant_retries", "make_config", "make_plugins",
    "no_jitter", "post", "remediation_kind", "remediation_runs", "running", "serving", "wait_until",
]
