"""Schemathesis against tocsin's own API: every operation of the OpenAPI document that
tocsin serves at ``/api/tocsin/v1/openapi.json`` gets generated requests (valid ones
and, through schemathesis' negative mode, invalid ones), and no answer is a 5xx.

The server is a real runtime (SQLite store, fake clock) behind aiohttp, in this
process, on a loopback port, with its event loop on a background thread: a throwaway
runtime made for this module, so the mutating operations (events, ack, unack, resolve,
dead-letter replay and drop, remediation approve and reject, the Alertmanager webhook)
change nothing anyone else uses. Before each operation it is stocked so that path
parameters can name something that exists: new firing, acknowledged and resolved
alerts, a remediation run waiting for approval, a dead letter if none is left. About
half of the generated ``id`` values are replaced by an id of the operation's collection
(alerts, remediations, dead letters).

The one 5xx the document declares, 502 from ``POST .../dead-letters/{id}/replay`` when
the replay fails (the seeded dead letter's receiver is a closed port), is accepted
there and nowhere else. Schemathesis' own ``not_a_server_error`` check runs on every
other answer.

Quick mode runs ``TOCSIN_FUZZ_EXAMPLES`` (default 25) fuzzing examples per operation;
long mode, for example::

    TOCSIN_FUZZ_EXAMPLES=5000 .venv/bin/pytest -q tests/reliability/test_openapi_fuzz.py

Needs the ``schemathesis`` package (skipped loudly without it, failed under CI=true).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
from collections import Counter
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.reliability.figures import write_report
from tocsin.core.clock import FakeClock
from tocsin.core.models import Notification
from tocsin.runtime import Runtime
from tocsin.testing import advance, api_client, make_config, make_plugins, post
from tocsin.web.app import create_app
from tocsin.web.keys import ROUTES
from tocsin.web.openapi import PREFIX, document

try:
    import requests
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
except ImportError:  # pragma: no cover - depends on the environment
    msg = "MISSING PACKAGE schemathesis: .venv/bin/pip install 'schemathesis>=4.32,<5' to run this test"
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(msg, allow_module_level=True)

EXAMPLES = int(os.environ.get("TOCSIN_FUZZ_EXAMPLES", "25"))
REPLAY = f"POST {PREFIX}/dead-letters/{{id}}/replay"
T = TypeVar("T")

#: A webhook receiver on a port nothing listens on: deliveries and replays fail fast.
CLOSED = "http://127.0.0.1:9/hook"
CONFIG = f"""
route:
  receiver: quiet
  group_by: ['...']
  group_wait: 1s
  routes:
    - matchers: ['alertname="Fixable"']
      receiver: quiet
      remediations: [restart]
receivers:
  - name: quiet
  - name: hook
    webhook_configs: [{{url: "{CLOSED}", timeout: 1s}}]
remediations:
  - name: restart
    kind: command
    argv: ["/bin/true"]
    require_approval: true
    max_per_hour: 100000
"""


class Server:
    """A runtime and its HTTP API on a background event loop; ``url`` is its base URL."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="api-under-test", daemon=True)
        self.thread.start()
        self._cm = api_client(CONFIG, tmp, clock=FakeClock())
        client, self.rt = self.run(self._cm.__aenter__())
        self.url = str(client.make_url("")).rstrip("/")

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        try:
            self.run(self._cm.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


async def stock(rt: Runtime, serial: int) -> dict[str, list[str]]:
    """Before each operation: new alerts (a firing one, an acknowledged one, one waiting
    for approval of a remediation run, a resolved one) and a dead letter if none is left.
    Returns the ids that name something now, by the collection they are in: open alerts
    (id and fingerprint), runs waiting for approval, dead letters."""
    tag = {"serial": str(serial)}
    await post(rt, {"labels": {"alertname": "Fixable", **tag}}, {"labels": {"alertname": "Firing", **tag}},
               {"labels": {"alertname": "Acked", **tag}},
               {"labels": {"alertname": "Gone", **tag}, "endsAt": "2000-01-01T00:00:00Z"})
    await advance(rt, 5)  # group_wait: the Fixable group flushes and asks for approval
    acked = next(i for i in rt.lifecycle.current.values() if i.alertname == "Acked" and i.open
                 and i.labels.get("serial") == str(serial))
    await rt.lifecycle.acknowledge(acked.id, by="seed")
    if not len(rt.dead_letters):
        alert = rt.alerts.get(acked.fingerprint)
        assert alert is not None
        await rt.dead_letters.add(
            receiver="hook", integration=rt.delivery.receivers["hook"][0].name, attempts=1,
            error="seeded", now=rt.clock.now(),
            n=Notification(receiver="hook", group_key="{}:{}", group_labels={}, now=rt.clock.now(),
                           alerts=[alert.__copy__()]))
    pending = [r.id for r in rt.remediator.runs.values() if r.state == "pending_approval"]
    assert pending, "no remediation run waits for approval"
    alerts = [ref for inc in rt.lifecycle.current.values() if inc.open for ref in (inc.id, inc.fingerprint)]
    return {"alerts": alerts, "remediations": pending,
            "dead-letters": [str(d.id) for d in rt.dead_letters.list()]}


#: Ids that name something in the server under test, by collection (``stock`` fills it).
KNOWN: dict[str, list[str]] = {}
SERIALS = itertools.count()
#: Answers seen, by operation and status.
ANSWERS: Counter[tuple[str, int]] = Counter()



def built_document() -> dict[str, Any]:
    """The document of an app made from CONFIG with the built-in plugins (not started)."""
    pm = make_plugins()
    return document(create_app(Runtime(make_config(CONFIG, pm), pm, clock=FakeClock()))[ROUTES])


# The document as the module builds it; the ``server`` fixture checks that it is exactly
# what tocsin serves. (``schemathesis.pytest.from_fixture``, which would load the served
# one, fails under pytest 9: it reads ``Function._nodeid``, which pytest 9 no longer has.)
DOCUMENT = built_document()
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(DOCUMENT)))  # a copy
schema.config.generation.update(modes=list(GenerationMode), max_examples=EXAMPLES)


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Half the time, an ``id`` that names something in the operation's collection."""
    collection = context.operation.path.removeprefix(PREFIX + "/").split("/")[0]
    if not path_parameters or "id" not in path_parameters or not KNOWN.get(collection):
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters),
                     st.sampled_from(KNOWN[collection]).map(lambda i: {**path_parameters, "id": i}))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("openapi-fuzz"))
    try:
        served = requests.get(f"{s.url}{PREFIX}/openapi.json", timeout=30)
        assert served.status_code == 200
        assert served.json() == DOCUMENT
        yield s
    finally:
        s.close()
    report()


@pytest.fixture(autouse=True)
def stocked(server: Server) -> None:
    """Something for each operation's path parameters to name, whatever the ones before did."""
    KNOWN.clear()
    KNOWN.update(server.run(stock(server.rt, next(SERIALS))))


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case: Any, server: Server) -> None:
    response = case.call(base_url=server.url, timeout=30)
    ANSWERS[(case.operation.label, response.status_code)] += 1
    if case.operation.label == REPLAY and response.status_code == 502:
        assert response.json()["error"].startswith("replay failed"), response.text
        return
    case.validate_response(response, checks=[not_a_server_error])
    assert server.run(healthy(server)), f"the runtime broke down after {case.as_curl_command()}"


async def healthy(server: Server) -> bool:
    """Ready, and no background loop has ended."""
    return server.rt.ready and not server.rt.dead_loops()


def report() -> None:
    """Print the answers by operation; append them to ``$TOCSIN_RELIABILITY_REPORT`` if set."""
    by_op: dict[str, dict[str, int]] = {}
    for (label, status), n in sorted(ANSWERS.items()):
        by_op.setdefault(label, {})[str(status)] = n
    figures = {"examples_per_operation": EXAMPLES, "operations": len(by_op),
               "requests": sum(ANSWERS.values()),
               "five_xx": sum(n for (label, status), n in ANSWERS.items()
                              if status >= 500 and (label, status) != (REPLAY, 502)),
               "replay_502": ANSWERS[(REPLAY, 502)],
               "answers": by_op}
    print(f"openapi fuzz: {json.dumps(figures, indent=1)}")
    write_report("openapi_fuzz", figures)
