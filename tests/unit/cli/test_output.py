"""What the commands print: tables with a header row and aligned columns, colour only on
a terminal without NO_COLOR (the daemon's console log too), STARTS AT the alert's
startsAt."""

from __future__ import annotations

import io
import re
import sys

import pytest
import structlog

from tocsin.cli import alerts
from tocsin.cli.common import print_table
from tocsin.daemon.logsetup import configure_logging

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


PAGE = {"total": 2, "limit": 50, "offset": 0, "alerts": [
    {"id": "018f2a3b4c5d" + "a" * 12 + "1234abcd", "ref": "1234abcd", "fingerprint": "f" * 16,
     "state": "firing", "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db1"},
     "occurrences": 3, "starts_at": "2024-05-01T08:00:00.000Z", "fired_at": "2024-05-01T09:30:00.000Z",
     "last_seen": "2024-05-01T09:45:00.000Z", "acknowledged_by": None},
    {"id": "018f2a3b4c5d" + "b" * 12 + "9876fedc", "ref": "9876fedc", "fingerprint": "e" * 16,
     "state": "acknowledged", "labels": {"alertname": "Slow"}, "occurrences": 1, "starts_at": None,
     "fired_at": "2024-05-01T09:31:00.000Z", "last_seen": "2024-05-01T09:31:00.000Z",
     "acknowledged_by": "alice"},
]}


def columns(line: str, header: str, name: str) -> str:
    """The cell of column ``name`` in ``line``: from where the header has ``name`` to where
    its next column starts (columns are two or more spaces apart)."""
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", header)]
    start = header.index(name)
    assert start in starts, name
    end = next((s for s in starts if s > start), len(line))
    return line[start:end].strip()


def listing(out: io.StringIO, output: str = "simple") -> None:
    alerts.alerts_list(None, None, state=[], severity=[], matchers=[], since=None, limit=50, offset=0,
                       output=output, out=out)


@pytest.mark.parametrize("stream", [io.StringIO, Terminal])
def test_a_table_has_its_header_and_aligned_columns(stream, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = stream()
    print_table([("A", "STATE", "C")], out)
    assert out.getvalue() == "A  STATE  C\n"  # a header also when there are no rows
    out = stream()
    print_table([("ID", "STATE", "NAME"), ("1", "firing", "x"), ("22", "resolved", "y")], out,
                lambda i, cell: "31" if i == 1 and cell == "firing" else None)
    lines = [ANSI.sub("", line) for line in out.getvalue().splitlines()]
    assert lines == ["ID  STATE     NAME", "1   firing    x", "22  resolved  y"]
    assert ("\x1b[31mfiring\x1b[0m" in out.getvalue()) is (stream is Terminal)


def test_no_color_turns_colour_off_on_a_terminal(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = Terminal()
    monkeypatch.setattr(alerts, "request", lambda *a, **k: PAGE)
    listing(out)
    assert "\x1b" not in out.getvalue()
    monkeypatch.delenv("NO_COLOR")
    out = Terminal()
    listing(out)
    assert "\x1b[31mfiring\x1b[0m" in out.getvalue()
    assert "\x1b[33macknowledged\x1b[0m" in out.getvalue()


def test_alerts_list_shows_the_ref_and_starts_at(monkeypatch):
    """FIRED was when tocsin received the alert; STARTS AT is its startsAt, as amtool shows."""
    monkeypatch.setattr(alerts, "request", lambda *a, **k: PAGE)
    out = io.StringIO()
    listing(out)
    header, disk, slow = out.getvalue().splitlines()
    assert re.split(r"\s{2,}", header) == ["REF", "STATE", "ALERTNAME", "SEVERITY", "STARTS AT", "COUNT",
                                            "ACK BY", "LABELS"]
    assert "STARTS AT" in header
    assert "FIRED" not in header
    assert columns(disk, header, "REF") == "1234abcd"
    assert columns(disk, header, "STARTS AT") == "2024-05-01 08:00:00"
    assert columns(slow, header, "STARTS AT") == "-"  # not known (stored before it was kept)
    assert "09:30" not in disk

    out = io.StringIO()
    listing(out, "wide")
    header, disk, _ = out.getvalue().splitlines()
    assert columns(disk, header, "ID") == PAGE["alerts"][0]["id"]
    assert columns(disk, header, "STARTS AT") == "2024-05-01 08:00:00"
    assert columns(disk, header, "RECEIVED") == "2024-05-01 09:30:00"
    assert columns(disk, header, "LAST SEEN") == "2024-05-01 09:45:00"


@pytest.fixture
def restore_logging():
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.mark.parametrize(("terminal", "no_color", "coloured"), [
    (False, None, False), (True, None, True), (True, "1", False)])
def test_the_console_log_is_coloured_only_on_a_terminal(terminal, no_color, coloured, monkeypatch,
                                                         restore_logging):
    """``logging.format: console`` under systemd (no terminal) wrote escape codes into the journal."""
    err = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    configure_logging("info", "console")
    structlog.get_logger("test").info("hello", key="value")
    text = err.getvalue()
    assert "hello" in text
    assert ("\x1b[" in text) is coloured
