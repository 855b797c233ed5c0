"""What the command line does beyond serving: route tests and a silence client.

``route test`` prints exactly what ``amtool config routes test`` prints, so
scripts written for one work with the other. The silence commands talk to a
running daemon over its Alertmanager API v2.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tocsin.core.durations import Duration
from tocsin.core.matchers import MatcherError, MatchType, parse_matcher, parse_matchers
from tocsin.dispatch.route import Route

__all__ = [
    "dlq_drop", "dlq_list", "dlq_replay", "notify_test", "route_test", "silence_add", "silence_expire",
    "silence_query",
]

DEFAULT_URL = "http://127.0.0.1:9095"


class CLIError(Exception):
    """An error for the user: printed as ``tocsin: error: ...``, exit status 1."""


# -- route test ------------------------------------------------------------------------


def parse_labels(args: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for arg in args:
        try:
            m = parse_matcher(arg)
        except MatcherError as exc:
            raise CLIError(f"Failed to parse labels: {exc}") from None
        if m.type is not MatchType.EQUAL:
            raise CLIError("Failed to parse labels: labels must be specified as key=value pairs")
        labels[m.name] = m.value
    return labels


def _slug(route: Route, receiver: bool) -> str:
    text = str_matchers(route) or "default-route"
    return f"{text}  receiver: {route.receiver}" if receiver else text


def str_matchers(route: Route) -> str:
    return "{" + ",".join(str(m) for m in route.matchers) + "}" if route.matchers else ""


def matching_tree(root: Route, labels: dict[str, str]) -> list[str]:
    """The matching branches, drawn as amtool draws them (treeprint)."""

    def node(route: Route) -> tuple[str, list[Any]]:
        children = []
        for child in route.routes:
            if child.matches(labels):
                children.append(node(child))
                if not child.continue_:
                    break
        return (_slug(route, receiver=not children), children)

    lines = ["."]

    def draw(children: list[Any], prefix: str) -> None:
        for i, (text, grand) in enumerate(children):
            last = i == len(children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{text}")
            draw(grand, prefix + ("    " if last else "│\u00a0\u00a0 "))

    draw([node(root)], "")
    return lines


def route_test(
    config_path: str, labels_args: list[str], *, tree: bool = False,
    verify: str | None = None, out: TextIO = sys.stdout,
) -> int:
    from tocsin.config.document import ConfigError
    from tocsin.daemon.serve import ConfigLoader, load_plugins

    try:
        config = ConfigLoader(Path(config_path), load_plugins()).load()
    except ConfigError as exc:
        raise CLIError(exc.render()) from None
    labels = parse_labels(labels_args)
    if tree:
        out.write("Matching routes:\n" + "\n".join(matching_tree(config.route, labels)) + "\n\n\n")
    slug = ",".join(r.receiver for r in config.route.match(labels))
    out.write(slug + "\n")
    if verify is not None and verify != slug:
        out.write("WARNING: Expected receivers did not match resolved receivers.\n")
        return 1
    return 0


# -- a client of the daemon -----------------------------------------------------------


def base_url(url: str | None) -> str:
    return (url or os.environ.get("TOCSIN_URL") or DEFAULT_URL).rstrip("/")


def request(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    token = token or os.environ.get("TOCSIN_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except (ValueError, AttributeError):
            pass
        raise CLIError(f"{method} {url}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CLIError(f"cannot reach tocsin at {url}: {reason}") from None
    return json.loads(raw) if raw else None


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse_time(text: str, flag: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CLIError(f"{flag}: invalid RFC3339 time {text!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def silence_matchers(args: list[str]) -> list[dict[str, Any]]:
    if not args:
        raise CLIError("no matchers given: e.g. alertname=DiskFull instance=~\"db.*\"")
    args = list(args)
    if not any(op in args[0] for op in ("=", "~")):
        args[0] = f"alertname={args[0]}"  # amtool's shortcut: a bare first word names the alert
    out = []
    for arg in args:
        try:
            ms = parse_matchers(arg)
        except MatcherError as exc:
            raise CLIError(f"invalid matcher {arg!r}: {exc}") from None
        for m in ms:
            out.append({"name": m.name, "value": m.value, "isRegex": m.type.is_regex,
                        "isEqual": not m.type.is_negative})
    return out


def silence_add(
    url: str | None, matchers: list[str], *, duration: str = "1h", start: str | None = None,
    end: str | None = None, author: str | None = None, comment: str = "",
    out: TextIO = sys.stdout,
) -> int:
    body_matchers = silence_matchers(matchers)
    starts = _parse_time(start, "--start") if start else datetime.now(UTC)
    if end:
        ends = _parse_time(end, "--end")
    else:
        try:
            span = Duration.parse(duration)
        except ValueError as exc:
            raise CLIError(f"--duration: {exc}") from None
        if span <= 0:
            raise CLIError("--duration: must be greater than zero")
        ends = datetime.fromtimestamp(starts.timestamp() + span, UTC)
    body = {
        "matchers": body_matchers, "startsAt": _iso(starts), "endsAt": _iso(ends),
        "createdBy": author or os.environ.get("USER") or getpass.getuser(), "comment": comment,
    }
    answer = request("POST", f"{base_url(url)}/api/v2/silences", body)
    out.write(answer["silenceID"] + "\n")
    return 0


def _matcher_text(m: dict[str, Any]) -> str:
    op = ("=~" if m["isRegex"] else "=") if m.get("isEqual", True) else ("!~" if m["isRegex"] else "!=")
    value = m["value"].replace("\\", "\\\\").replace('"', '\\"')
    return f'{m["name"]}{op}"{value}"'


def silence_query(
    url: str | None, matchers: list[str], *, expired: bool = False, quiet: bool = False,
    output: str = "simple", out: TextIO = sys.stdout,
) -> int:
    params = []
    for arg in matchers:
        try:
            parse_matchers(arg)
        except MatcherError as exc:
            raise CLIError(f"invalid matcher {arg!r}: {exc}") from None
        params.append(("filter", arg))
    query = urllib.parse.urlencode(params)
    silences = request("GET", f"{base_url(url)}/api/v2/silences" + (f"?{query}" if query else ""))
    chosen = [s for s in silences if (s["status"]["state"] == "expired") == expired]
    if quiet:
        for s in chosen:
            out.write(s["id"] + "\n")
    elif output == "json":
        out.write(json.dumps(chosen) + "\n")
    else:
        rows = [("ID", "Matchers", "Ends At", "Created By", "Comment")]
        for s in chosen:
            ends = _parse_time(s["endsAt"], "endsAt").strftime("%Y-%m-%d %H:%M:%S UTC")
            rows.append((s["id"], " ".join(_matcher_text(m) for m in s["matchers"]), ends,
                         s["createdBy"], s["comment"]))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    return 0


def silence_expire(url: str | None, ids: list[str]) -> int:
    if not ids:
        raise CLIError("no silence ids given")
    for sid in ids:
        request("DELETE", f"{base_url(url)}/api/v2/silence/{urllib.parse.quote(sid)}")
    return 0


# -- dead letters ---------------------------------------------------------------------


def _table(rows: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def dlq_list(url: str | None, token: str | None, *, output: str = "simple",
             out: TextIO = sys.stdout) -> int:
    items = request("GET", f"{base_url(url)}/api/tocsin/v1/dead-letters", token=token)
    if output == "json":
        out.write(json.dumps(items) + "\n")
        return 0
    rows = [("ID", "At", "Receiver", "Integration", "Alerts", "Attempts", "Error")]
    rows += [(str(d["id"]), d["at"], d["receiver"], d["integration"], str(d["alerts"]),
              str(d["attempts"]), d["error"][:80]) for d in items]
    _table(rows, out)
    return 0


def dlq_replay(url: str | None, token: str | None, ids: list[str], out: TextIO = sys.stdout) -> int:
    for i in ids:
        answer = request("POST", f"{base_url(url)}/api/tocsin/v1/dead-letters/{urllib.parse.quote(i)}/replay",
                         token=token)
        if isinstance(answer, dict) and answer.get("status") == "superseded":
            out.write(f"{i}: superseded by a newer notification of its group; dropped, not sent\n")
        else:
            out.write(f"{i}: delivered\n")
    return 0


def dlq_drop(url: str | None, token: str | None, ids: list[str], out: TextIO = sys.stdout) -> int:
    for i in ids:
        request("DELETE", f"{base_url(url)}/api/tocsin/v1/dead-letters/{urllib.parse.quote(i)}",
                token=token)
        out.write(f"{i}: dropped\n")
    return 0


# -- notify test ----------------------------------------------------------------------


def notify_test(config_path: str, receiver: str, *, dry_run: bool = False,
                out: TextIO = sys.stdout) -> int:
    """Send a synthetic firing alert through every integration of a receiver
    (or, with ``dry_run``, print what each would send)."""
    return asyncio.run(_notify_test(config_path, receiver, dry_run, out))


async def _notify_test(config_path: str, receiver: str, dry_run: bool, out: TextIO) -> int:
    import time

    import aiohttp

    from tocsin.channels import ChannelContext, DeliveryError
    from tocsin.config.document import ConfigError
    from tocsin.core.labels import fingerprint
    from tocsin.core.models import Alert, Notification
    from tocsin.daemon.serve import ConfigLoader, load_plugins

    try:
        config = ConfigLoader(Path(config_path), load_plugins()).load()
    except ConfigError as exc:
        raise CLIError(exc.render()) from None
    spec = config.receivers.get(receiver)
    if spec is None:
        raise CLIError(f"no receiver {receiver!r} (have: {', '.join(config.receivers) or 'none'})")
    if not spec.integrations:
        raise CLIError(f"receiver {receiver!r} has no integrations")
    now = time.time()
    labels = {"alertname": "TocsinTest", "severity": "info", "instance": "tocsin-notify-test"}
    alert = Alert(fingerprint=fingerprint(labels), labels=labels, starts_at=now, ends_at=0.0,
                  annotations={"summary": "Test notification from tocsin notify test",
                               "description": f"Sent to receiver {receiver} to check its integrations."},
                  updated_at=now)
    n = Notification(receiver=receiver, group_key="{}:{alertname=\"TocsinTest\"}",
                     group_labels={"alertname": "TocsinTest"}, alerts=[alert], now=now)
    external = config.server.external_url or f"http://{config.server.listen}"
    failed = 0
    async with aiohttp.ClientSession() as session:
        for ispec in spec.integrations:
            ctx = ChannelContext(session=session, external_url=external, global_config=config.global_,
                                 receiver=receiver, integration=ispec.name, templates=config.templates)
            channel = config.kinds[ispec.kind].factory(ispec.config, ctx)
            if dry_run:
                render = getattr(channel, "render", None)
                preview = render(n) if render is not None else None
                if isinstance(preview, bytes):
                    preview = preview.decode(errors="replace")
                shown = preview if preview is not None else "(no preview)"
                out.write(f"{ispec.name}: would send:\n{shown}\n")
                continue
            try:
                await asyncio.wait_for(channel.send(n), float(ispec.config.timeout))
                out.write(f"{ispec.name}: sent\n")
            except (DeliveryError, TimeoutError) as exc:
                failed += 1
                out.write(f"{ispec.name}: FAILED: {exc or 'timed out'}\n")
    return 1 if failed else 0
