"""The end-to-end fixtures (a daemon subprocess, a webhook receiver) for reliability tests."""

from tests.e2e.conftest import make_daemon, receiver

__all__ = ["make_daemon", "receiver"]
