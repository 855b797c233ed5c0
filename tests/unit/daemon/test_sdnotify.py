"""tocsin.daemon.sdnotify: the exact datagrams, abstract and path sockets, the watchdog interval."""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from pathlib import Path

import pytest

from tocsin.daemon import sdnotify


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def warning(self, event: str, **kw: object) -> None:
        self.calls.append((event, kw))


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sdnotify, "_warned", False)
    rec = Recorder()
    monkeypatch.setattr(sdnotify, "log", rec)
    return rec


@pytest.fixture
def path_socket(monkeypatch):
    # A short directory: AF_UNIX paths are limited to 107 bytes.
    path = Path(f"/tmp/tocsin-sd-{uuid.uuid4().hex[:8]}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()
    path.unlink(missing_ok=True)


@pytest.fixture
def abstract_socket(monkeypatch):
    name = f"tocsin-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    yield sock
    sock.close()


def test_notify_sends_the_lines_as_one_datagram_to_a_path_socket(path_socket):
    assert sdnotify.notify("READY=1", "STATUS=listening") is True
    assert path_socket.recv(4096) == b"READY=1\nSTATUS=listening"


def test_notify_to_an_abstract_socket(abstract_socket):
    assert sdnotify.notify("WATCHDOG=1") is True
    assert abstract_socket.recv(4096) == b"WATCHDOG=1"


@pytest.mark.parametrize("sock", ["path_socket", "abstract_socket"])
def test_the_helpers_send_exactly_these_bytes(sock, request):
    s = request.getfixturevalue(sock)
    assert sdnotify.ready()
    assert s.recv(4096) == b"READY=1"
    assert sdnotify.ready("ready: http://127.0.0.1:9095")
    assert s.recv(4096) == b"READY=1\nSTATUS=ready: http://127.0.0.1:9095"
    assert sdnotify.stopping()
    assert s.recv(4096) == b"STOPPING=1"
    assert sdnotify.stopping("stopping")
    assert s.recv(4096) == b"STOPPING=1\nSTATUS=stopping"
    assert sdnotify.status("two\nlines  here")
    assert s.recv(4096) == b"STATUS=two lines here"  # a status is one line
    assert sdnotify.watchdog()
    assert s.recv(4096) == b"WATCHDOG=1"


def test_reloading_carries_the_monotonic_clock_in_microseconds(path_socket):
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert sdnotify.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    data = path_socket.recv(4096).decode()
    m = re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=(\d+)", data)
    assert m, data
    assert before <= int(m[1]) <= after
    assert sdnotify.reloading("reloading the config")
    assert re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading the config",
                        path_socket.recv(4096).decode())


@pytest.mark.parametrize("value", [None, ""])
def test_without_notify_socket_nothing_is_sent_and_nothing_fails(monkeypatch, clean, value):
    if value is not None:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready("x") is False
    assert sdnotify.reloading() is False
    assert sdnotify.stopping() is False
    assert sdnotify.watchdog() is False
    assert clean.calls == []


def test_a_failure_is_logged_once_and_never_raised(monkeypatch, clean, tmp_path):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert sdnotify.ready() is False
    assert sdnotify.watchdog() is False
    assert sdnotify.stopping() is False
    assert len(clean.calls) == 1
    event, fields = clean.calls[0]
    assert "cannot notify" in event
    assert fields["notify_socket"] == str(tmp_path / "nobody-listens")
    assert fields["message"] == "READY=1"


def test_an_unsupported_address_is_a_logged_failure(monkeypatch, clean):
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert sdnotify.ready() is False
    assert len(clean.calls) == 1
    assert "unsupported" in clean.calls[0][1]["error"]


def test_a_full_datagram_arrives_intact(path_socket):
    status = "x" * 3000
    assert sdnotify.ready(status)
    assert path_socket.recv(8192) == b"READY=1\nSTATUS=" + status.encode()


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        (None, None, None),
        ("", None, None),
        ("200000", None, 0.1),
        ("30000000", None, 15.0),
        ("200000", "self", 0.1),
        ("200000", "other", None),
        ("200000", "not-a-pid", None),
        ("soon", None, None),
        ("0", None, None),
        ("-5", None, None),
    ],
)
def test_watchdog_interval(monkeypatch, usec, pid, expected):
    if usec is not None:
        monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid == "self":
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    elif pid == "other":
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    elif pid is not None:
        monkeypatch.setenv("WATCHDOG_PID", pid)
    assert sdnotify.watchdog_interval() == expected
