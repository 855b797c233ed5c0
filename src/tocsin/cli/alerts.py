"""The command line for incidents: ``tocsin alerts``, ``tocsin escalations``,
``tocsin stats``. Each talks to a running daemon over ``/api/tocsin/v1``.

An alert is named as the daemon reads it: by id, fingerprint, or a short
reference (a few hex digits that start or end its id, or start its fingerprint);
lists show each alert's ``ref``, the shortest end of its id that names it alone.
"""

from __future__ import annotations

import argparse
import getpass
import io
import urllib.parse
from typing import Any, TextIO

from tocsin.cli.common import (
    STDOUT,
    CLIError,
    DaemonError,
    Paint,
    SubParsers,
    base_url,
    command,
    each,
    group,
    print_json,
    print_table,
    quoted,
    request,
    short_time,
)
from tocsin.core.timefmt import format_ts

__all__ = ["add_commands", "alerts_change", "alerts_list", "alerts_show", "escalations_list", "stats"]

API = "/api/tocsin/v1"
#: The colour of each state on a terminal.
STATE_COLOURS = {"firing": "31", "acknowledged": "33", "resolved": "32"}


def add_commands(sub: SubParsers) -> None:
    asub = group(sub, "alerts", "alerts and their lifecycle on a running daemon", daemon=True)
    alist = command(asub, "list", "alerts, newest first", daemon=True, output=("simple", "wide", "json"))
    alist.add_argument("--state", action="append", default=[],
                       help="firing, acknowledged, resolved or open (repeatable)")
    alist.add_argument("--severity", action="append", default=[], help="repeatable")
    alist.add_argument("--since", help="received at or after: RFC 3339 time or a duration ago (24h)")
    alist.add_argument("--limit", type=int, default=50)
    alist.add_argument("--offset", type=int, default=0)
    alist.add_argument("matchers", nargs="*", help='label matchers, e.g. severity="critical"')
    alist.set_defaults(func=_cmd_alerts)
    ashow = command(asub, "show", "one alert and its history", daemon=True)
    ashow.add_argument("id", help="alert REF as list shows it, id, fingerprint, or 4 or more hex digits "
                                  "that start or end its id or start its fingerprint")
    ashow.set_defaults(func=_cmd_alerts)
    for action, text in (("ack", "acknowledge: stops escalation and reminders"),
                         ("unack", "withdraw an acknowledgement: escalation resumes"),
                         ("resolve", "resolve now; receivers with send_resolved are told")):
        ch = command(asub, action, text, daemon=True)
        ch.add_argument("ids", nargs="+", metavar="id", help="alert REFs, ids or fingerprints (as for show)")
        ch.add_argument("--who", help="your name (default: the login name)")
        ch.add_argument("--note", default="")
        if action == "ack":
            ch.add_argument("--for", dest="lasting", metavar="DURATION",
                            help="the acknowledgement runs out after this long (2h); escalation then resumes")
        ch.set_defaults(func=_cmd_alerts)

    esub = group(sub, "escalations", "escalation steps still to come", daemon=True)
    elist = command(esub, "list", "pending steps: alert, policy, level, receivers, when", daemon=True)
    elist.set_defaults(func=_cmd_escalations)

    st = command(sub, "stats", "what fires most, when, and how fast it is handled", daemon=True)
    st.add_argument("--days", type=int, default=7)
    st.add_argument("--flap-threshold", type=int, default=3,
                    help="flapping: more than this many firings within an hour")
    st.add_argument("--top", type=int, default=10, help="how many noisiest alerts to show")
    st.add_argument("--tz", default="UTC", help="time zone for the hour-of-day table")
    st.add_argument("--json", dest="output", action="store_const", const="json", help="the same as -o json")
    st.set_defaults(func=_cmd_stats)


def _cmd_alerts(args: argparse.Namespace) -> int:
    if args.alerts_command == "list":
        return alerts_list(args.url, args.token, state=args.state, severity=args.severity,
                           matchers=args.matchers, since=args.since, limit=args.limit,
                           offset=args.offset, output=args.output)
    if args.alerts_command == "show":
        return alerts_show(args.url, args.token, args.id, output=args.output)
    return alerts_change(args.url, args.token, args.alerts_command, args.ids, who=args.who, note=args.note,
                         lasting=getattr(args, "lasting", None), output=args.output)


def _cmd_escalations(args: argparse.Namespace) -> int:
    return escalations_list(args.url, args.token, output=args.output)


def _cmd_stats(args: argparse.Namespace) -> int:
    return stats(args.url, args.token, days=args.days, flap_threshold=args.flap_threshold,
                 top=args.top, tz=args.tz, output=args.output)


def state_paint(column: int) -> Paint:
    """A table's paint: the state in ``column`` in its colour."""
    return lambda i, cell: STATE_COLOURS.get(cell) if i == column else None


def _detail_value(key: str, value: object) -> object:
    """History details keep times as Unix seconds; show them as the rest of the output does."""
    if key in ("starts_at", "ends_at") and isinstance(value, int | float) and not isinstance(value, bool):
        return short_time(format_ts(float(value)))
    return value


def _labels(labels: dict[str, str], skip: tuple[str, ...] = ("alertname",)) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k not in skip)


def _ref(alert: dict[str, Any]) -> str:
    ref: str = alert.get("ref") or alert["id"]  # a daemon older than refs: the whole id
    return ref


def alerts_list(url: str | None, token: str | None, *, state: list[str], severity: list[str],
                matchers: list[str], since: str | None, limit: int, offset: int,
                output: str = "simple", out: TextIO = STDOUT) -> int:
    query: list[tuple[str, str]] = [("state", s) for s in state] + [("severity", s) for s in severity]
    query += [("filter", m) for m in matchers]
    if since:
        query.append(("since", since))
    query += [("limit", str(limit)), ("offset", str(offset))]
    page = request_json(url, token, f"/alerts?{urllib.parse.urlencode(query)}")
    if output == "json":
        print_json(page, out)
        return 0
    wide = output == "wide"
    head = ("REF", "STATE", "ALERTNAME", "SEVERITY", "STARTS AT")
    rows = [(("ID", *head, "RECEIVED", "LAST SEEN") if wide else head) + ("COUNT", "ACK BY", "LABELS")]
    for a in page["alerts"]:
        cells: tuple[str, ...] = (_ref(a), a["state"], a["labels"].get("alertname", ""),
                                  a["labels"].get("severity", ""), short_time(a.get("starts_at")))
        if wide:
            cells = (a["id"], *cells, short_time(a["fired_at"]), short_time(a["last_seen"]))
        rows.append((*cells, str(a["occurrences"]), a.get("acknowledged_by") or "",
                     _labels(a["labels"], ("alertname", "severity"))))
    print_table(rows, out, state_paint(2 if wide else 1))
    shown = len(page["alerts"])
    if page["total"] > shown:
        out.write(f"({shown} of {page['total']}; --offset {page['offset'] + shown} for more)\n")
    return 0


def request_json(url: str | None, token: str | None, path: str, method: str = "GET",
                 body: Any = None) -> Any:
    """An answer of the daemon's own API (``path`` under ``/api/tocsin/v1``)."""
    return request(method, f"{base_url(url)}{API}{path}", body, token=token)


def _find(url: str | None, token: str | None, ref: str) -> dict[str, Any]:
    """The alert ``ref`` names, as the daemon reads it; an ambiguous one lists the candidates."""
    try:
        found: dict[str, Any] = request_json(url, token, f"/alerts/{quoted(ref)}")
    except DaemonError as exc:
        data = exc.data if isinstance(exc.data, dict) else {}
        if exc.status == 409 and isinstance(data.get("candidates"), list):
            raise CLIError(_ambiguous(data)) from None
        if exc.status == 404 and isinstance(data.get("error"), str):
            raise CLIError(data["error"]) from None
        raise
    return found


def _ambiguous(data: dict[str, Any]) -> str:
    table = io.StringIO()
    rows = [("REF", "ID", "STATE", "ALERTNAME", "STARTS AT", "LABELS")]
    rows += [(_ref(a), a["id"], a["state"], a["labels"].get("alertname", ""), short_time(a.get("starts_at")),
              _labels(a["labels"])) for a in data["candidates"]]
    print_table(rows, table)
    return f"{data['error']}\n{table.getvalue().rstrip()}"


def alerts_show(url: str | None, token: str | None, ref: str, *, output: str = "simple",
                out: TextIO = STDOUT) -> int:
    alert = _find(url, token, ref)
    hist = request_json(url, token, f"/alerts/{quoted(alert['id'])}/history")
    if output == "json":
        print_json({**alert, "history": hist["history"]}, out)
        return 0
    fields = [("id", alert["id"]), ("ref", _ref(alert)), ("fingerprint", alert["fingerprint"]),
              ("state", alert["state"]), ("labels", _labels(alert["labels"], ())),
              ("occurrences", str(alert["occurrences"])), ("starts at", short_time(alert.get("starts_at"))),
              ("received", short_time(alert["fired_at"])), ("last seen", short_time(alert["last_seen"]))]
    if alert.get("acknowledged_by"):
        fields.append(("acknowledged", f"{short_time(alert['acknowledged_at'])} by {alert['acknowledged_by']}"
                       + (f": {alert['ack_note']}" if alert.get("ack_note") else "")))
    if alert.get("resolved_at"):
        fields.append(("resolved", f"{short_time(alert['resolved_at'])} ({alert['resolution']}"
                       f" by {alert['resolved_by']})"))
    for key, value in sorted(alert.get("annotations", {}).items()):
        fields.append((key, value.replace("\n", " | ")))
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        out.write(f"{key.ljust(width)}  {value}\n")
    out.write("\nhistory\n")
    rows = [("AT", "KIND", "ACTOR", "DETAIL")]
    for h in hist["history"]:
        detail = ", ".join(f"{k}={_detail_value(k, v)}" for k, v in h["detail"].items()
                           if v not in ("", None, [], {}))
        rows.append((short_time(h["at"]), h["kind"], h["actor"], detail[:100]))
    print_table(rows, out)
    return 0


def alerts_change(url: str | None, token: str | None, action: str, refs: list[str], *,
                  who: str | None, note: str, lasting: str | None = None, output: str = "simple",
                  out: TextIO = STDOUT) -> int:
    who = who or getpass.getuser()
    body = {"who": who, "note": note} | ({"for": lasting} if lasting else {})

    def change(ref: str) -> tuple[Any, str]:
        alert = _find(url, token, ref)
        changed = request_json(url, token, f"/alerts/{quoted(alert['id'])}/{action}", "POST", body)
        return changed, f"{changed['id']}: {changed['state']}"

    return each(refs, change, output, out)


def escalations_list(url: str | None, token: str | None, *, output: str = "simple",
                     out: TextIO = STDOUT) -> int:
    items = request_json(url, token, "/escalations")
    if output == "json":
        print_json(items, out)
        return 0
    rows = [("REF", "ALERTNAME", "POLICY", "NEXT LEVEL", "RECEIVERS", "DUE", "IN")]
    for e in items:
        level = f"{e['level']}{' (repeat)' if e['repeat'] else ''}"
        due_in = "paused (acknowledged)" if e["paused"] else _seconds(e["due_in_seconds"])
        rows.append((_ref(e), e["alertname"], e["policy"], level, ",".join(e["receivers"]),
                     short_time(e["due_at"]), due_in))
    print_table(rows, out)
    return 0


def _seconds(s: float) -> str:
    s = max(0, round(s))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


def stats(url: str | None, token: str | None, *, days: int, flap_threshold: int, top: int, tz: str,
          output: str = "simple", out: TextIO = STDOUT) -> int:
    import json

    import msgspec

    from tocsin.incidents.stats import Stats, render_stats

    query = urllib.parse.urlencode({"days": days, "flap_threshold": flap_threshold, "top": top, "tz": tz})
    data = request_json(url, token, f"/stats?{query}")
    if output == "json":
        out.write(json.dumps(data, indent=2) + "\n")
        return 0
    out.write(render_stats(msgspec.convert(data, Stats)))
    return 0
