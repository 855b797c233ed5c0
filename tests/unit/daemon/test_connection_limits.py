"""server.max_connections, header_timeout, idle_timeout, and the descriptor limit under them."""

from __future__ import annotations

import resource

import pytest

from tocsin.config.document import ConfigError
from tocsin.daemon import fdlimit
from tocsin.daemon.fdlimit import DEFAULT_MAX_CONNECTIONS, RESERVED, FileLimit, connection_limits
from tocsin.testing import make_config

BASE = "route: {receiver: r}\nreceivers: [{name: r}]\n"


def server(lines: str):
    return make_config(f"server:\n{lines}\n{BASE}").server


def test_the_defaults():
    s = make_config(BASE).server
    assert s.max_connections is None
    assert float(s.header_timeout) == 10
    assert float(s.idle_timeout) == 75


def test_the_keys_are_read():
    s = server("  max_connections: 50\n  header_timeout: 2s\n  idle_timeout: 1m")
    assert s.max_connections == 50
    assert float(s.header_timeout) == 2
    assert float(s.idle_timeout) == 60


@pytest.mark.parametrize(("line", "path", "says"), [
    ("max_connections: 0", "server.max_connections", "at least 1"),
    ("max_connections: many", "server.max_connections", "int"),
    ("header_timeout: 0s", "server.header_timeout", "greater than zero"),
    ("header_timeout: soon", "server.header_timeout", ""),
    ("idle_timeout: 0", "server.idle_timeout", "greater than zero"),
])
def test_a_bad_value_is_an_error_naming_the_field(line, path, says):
    with pytest.raises(ConfigError) as exc:
        server(f"  {line}")
    [problem] = exc.value.problems
    assert problem.path == path
    assert says in problem.message
    assert problem.line == 2


def test_the_default_cap_leaves_the_reserve_under_the_limit():
    unset = server("  header_timeout: 3s")

    def cap(soft: int) -> int:
        return connection_limits(unset, FileLimit(soft=soft, hard=soft)).max_connections

    assert cap(1024) == 1024 - RESERVED
    assert cap(65536) == DEFAULT_MAX_CONNECTIONS
    assert cap(300) == 150  # a tiny limit: half of it
    limits = connection_limits(server("  max_connections: 50\n  idle_timeout: 5s"), FileLimit(1024, 1024))
    assert (limits.max_connections, limits.header_timeout, limits.idle_timeout) == (50, 10.0, 5.0)


def test_the_soft_limit_is_raised_towards_the_hard_one(monkeypatch):
    limits = {resource.RLIMIT_NOFILE: (1024, 524288)}
    monkeypatch.setattr(resource, "getrlimit", lambda which: limits[which])
    monkeypatch.setattr(resource, "setrlimit", lambda which, value: limits.__setitem__(which, value))
    assert fdlimit.raise_limit() == FileLimit(soft=65536, hard=524288, raised_from=1024)
    assert limits[resource.RLIMIT_NOFILE] == (65536, 524288)
    assert fdlimit.raise_limit() == FileLimit(soft=65536, hard=524288)  # nothing more to do
    limits[resource.RLIMIT_NOFILE] = (1024, 4096)
    assert fdlimit.raise_limit() == FileLimit(soft=4096, hard=4096, raised_from=1024)


def test_a_limit_that_cannot_be_raised_is_left_as_it_is(monkeypatch):
    def refuse(which, value):
        raise ValueError("not allowed")

    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 4096))
    monkeypatch.setattr(resource, "setrlimit", refuse)
    assert fdlimit.raise_limit() == FileLimit(soft=1024, hard=4096)
