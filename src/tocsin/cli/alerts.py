"""The command line for incidents and what is done about them: ``tocsin alerts``,
``tocsin escalations``, ``tocsin remediations``, ``tocsin stats``. Each talks to
a running daemon over ``/api/tocsin/v1``."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import urllib.parse
from typing import Any, TextIO

from tocsin.cli.common import CLIError, base_url, client_args, print_table, request
from tocsin.core.timefmt import format_ts

__all__ = [
    "add_commands", "alerts_change", "alerts_list", "alerts_show", "escalations_list", "remediations_decide",
    "remediations_list", "stats",
]

API = "/api/tocsin/v1"
#: Characters of an alert id that lists show: the 12 of its creation time in
#: milliseconds, which alerts posted in one request share, and 8 of its random part.
SHORT_ID = 20


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    al = sub.add_parser("alerts", help="alerts and their lifecycle on a running daemon")
    client_args(al)
    asub = al.add_subparsers(dest="alerts_command", required=True)
    alist = asub.add_parser("list", help="alerts, newest first")
    alist.add_argument("--state", action="append", default=[],
                       help="firing, acknowledged, resolved or open (repeatable)")
    alist.add_argument("--severity", action="append", default=[], help="repeatable")
    alist.add_argument("--since", help="RFC 3339 time or a duration ago (24h)")
    alist.add_argument("--limit", type=int, default=50)
    alist.add_argument("--offset", type=int, default=0)
    alist.add_argument("--output", "-o", choices=["simple", "json"], default="simple")
    alist.add_argument("matchers", nargs="*", help='label matchers, e.g. severity="critical"')
    ashow = asub.add_parser("show", help="one alert and its history")
    ashow.add_argument("id", help="alert id (or a unique prefix) or fingerprint")
    ashow.add_argument("--output", "-o", choices=["simple", "json"], default="simple")
    changers = []
    for action, text in (("ack", "acknowledge: stops escalation and reminders"),
                         ("unack", "withdraw an acknowledgement: escalation resumes"),
                         ("resolve", "resolve now; receivers with send_resolved are told")):
        ch = asub.add_parser(action, help=text)
        ch.add_argument("ids", nargs="+", help="alert ids (or unique prefixes) or fingerprints")
        ch.add_argument("--who", help="your name (default: the login name)")
        ch.add_argument("--note", default="")
        changers.append(ch)
    for parser in (alist, ashow, *changers):
        client_args(parser, hidden=True)
    al.set_defaults(func=_cmd_alerts)

    es = sub.add_parser("escalations", help="escalation steps still to come")
    client_args(es)
    esub = es.add_subparsers(dest="escalations_command", required=True)
    elist = esub.add_parser("list", help="pending steps: alert, policy, level, receivers, when")
    elist.add_argument("--output", "-o", choices=["simple", "json"], default="simple")
    client_args(elist, hidden=True)
    es.set_defaults(func=_cmd_escalations)
    _add_remediations(sub)
    _add_stats(sub)


def _add_remediations(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rm = sub.add_parser("remediations", help="remediation runs on a running daemon: audit and approval")
    client_args(rm)
    rsub = rm.add_subparsers(dest="remediations_command", required=True)
    rlist = rsub.add_parser("list", help="runs, newest first: what ran, for which alert, how it went")
    rlist.add_argument("--state", action="append", default=[],
                       help="pending_approval, running, succeeded, failed, dry_run, rejected, cancelled, "
                            "skipped, interrupted, refused (repeatable)")
    rlist.add_argument("--limit", type=int, default=50)
    rlist.add_argument("--output", "-o", choices=["simple", "json"], default="simple")
    deciders = []
    for action, text in (("approve", "run a remediation waiting for approval"),
                         ("reject", "refuse a remediation waiting for approval")):
        dp = rsub.add_parser(action, help=text)
        dp.add_argument("ids", nargs="+", help="run ids")
        dp.add_argument("--who", help="your name (default: the login name)")
        dp.add_argument("--note", default="")
        deciders.append(dp)
    for parser in (rlist, *deciders):
        client_args(parser, hidden=True)
    rm.set_defaults(func=_cmd_remediations)


def _add_stats(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    st = sub.add_parser("stats", help="what fires most, when, and how fast it is handled")
    client_args(st)
    st.add_argument("--days", type=int, default=7)
    st.add_argument("--flap-threshold", type=int, default=3,
                    help="flapping: more than this many firings within an hour")
    st.add_argument("--top", type=int, default=10, help="how many noisiest alerts to show")
    st.add_argument("--tz", default="UTC", help="time zone for the hour-of-day table")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=_cmd_stats)


def _cmd_alerts(args: argparse.Namespace) -> int:
    if args.alerts_command == "list":
        return alerts_list(args.url, args.token, state=args.state, severity=args.severity,
                           matchers=args.matchers, since=args.since, limit=args.limit,
                           offset=args.offset, output=args.output)
    if args.alerts_command == "show":
        return alerts_show(args.url, args.token, args.id, output=args.output)
    return alerts_change(args.url, args.token, args.alerts_command, args.ids, who=args.who, note=args.note)


def _cmd_escalations(args: argparse.Namespace) -> int:
    return escalations_list(args.url, args.token, output=args.output)


def _cmd_remediations(args: argparse.Namespace) -> int:
    if args.remediations_command == "list":
        return remediations_list(args.url, args.token, state=args.state, limit=args.limit, output=args.output)
    return remediations_decide(args.url, args.token, args.remediations_command, args.ids,
                               who=args.who, note=args.note)


def _cmd_stats(args: argparse.Namespace) -> int:
    return stats(args.url, args.token, days=args.days, flap_threshold=args.flap_threshold,
                 top=args.top, tz=args.tz, as_json=args.json)


def _ref(ref: str) -> str:
    return urllib.parse.quote(ref, safe="")


def _short(ts: str | None) -> str:
    return ts[:19].replace("T", " ") if ts else "-"


def _detail_value(key: str, value: object) -> object:
    """History details keep times as Unix seconds; show them as the rest of the output does."""
    if key in ("starts_at", "ends_at") and isinstance(value, int | float) and not isinstance(value, bool):
        return _short(format_ts(float(value)))
    return value


def _labels(labels: dict[str, str], skip: tuple[str, ...] = ("alertname",)) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k not in skip)


def alerts_list(url: str | None, token: str | None, *, state: list[str], severity: list[str],
                matchers: list[str], since: str | None, limit: int, offset: int,
                output: str = "simple", out: TextIO = sys.stdout) -> int:
    query: list[tuple[str, str]] = [("state", s) for s in state] + [("severity", s) for s in severity]
    query += [("filter", m) for m in matchers]
    if since:
        query.append(("since", since))
    query += [("limit", str(limit)), ("offset", str(offset))]
    page = request("GET", f"{base_url(url)}{API}/alerts?{urllib.parse.urlencode(query)}", token=token)
    if output == "json":
        out.write(json.dumps(page) + "\n")
        return 0
    rows = [("ID", "STATE", "ALERTNAME", "SEVERITY", "FIRED", "COUNT", "ACK BY", "LABELS")]
    for a in page["alerts"]:
        rows.append((a["id"][:SHORT_ID], a["state"], a["labels"].get("alertname", ""),
                     a["labels"].get("severity", ""), _short(a["fired_at"]), str(a["occurrences"]),
                     a.get("acknowledged_by") or "", _labels(a["labels"], ("alertname", "severity"))))
    print_table(rows, out)
    shown = len(page["alerts"])
    if page["total"] > shown:
        out.write(f"({shown} of {page['total']}; --offset {page['offset'] + shown} for more)\n")
    return 0


def _find(url: str | None, token: str | None, ref: str) -> dict[str, Any]:
    """An alert by id, id prefix (as ``list`` shows), or fingerprint."""
    try:
        return request("GET", f"{base_url(url)}{API}/alerts/{_ref(ref)}", token=token)
    except CLIError as exc:
        if "HTTP 404" not in str(exc) or len(ref) < 6:
            raise
    page = request("GET", f"{base_url(url)}{API}/alerts?limit=1000", token=token)
    found = [a for a in page["alerts"] if a["id"].startswith(ref)]
    if len(found) != 1:
        raise CLIError(f"no alert with id {ref!r}" if not found else f"id prefix {ref!r} is ambiguous")
    return found[0]


def alerts_show(url: str | None, token: str | None, ref: str, *, output: str = "simple",
                out: TextIO = sys.stdout) -> int:
    alert = _find(url, token, ref)
    hist = request("GET", f"{base_url(url)}{API}/alerts/{_ref(alert['id'])}/history", token=token)
    if output == "json":
        out.write(json.dumps({**alert, "history": hist["history"]}) + "\n")
        return 0
    fields = [("id", alert["id"]), ("fingerprint", alert["fingerprint"]), ("state", alert["state"]),
              ("labels", _labels(alert["labels"], ())), ("occurrences", str(alert["occurrences"])),
              ("fired", _short(alert["fired_at"])), ("last seen", _short(alert["last_seen"]))]
    if alert.get("acknowledged_by"):
        fields.append(("acknowledged", f"{_short(alert['acknowledged_at'])} by {alert['acknowledged_by']}"
                       + (f": {alert['ack_note']}" if alert.get("ack_note") else "")))
    if alert.get("resolved_at"):
        fields.append(("resolved", f"{_short(alert['resolved_at'])} ({alert['resolution']}"
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
        rows.append((_short(h["at"]), h["kind"], h["actor"], detail[:100]))
    print_table(rows, out)
    return 0


def alerts_change(url: str | None, token: str | None, action: str, refs: list[str], *,
                  who: str | None, note: str, out: TextIO = sys.stdout) -> int:
    who = who or getpass.getuser()
    for ref in refs:
        alert = _find(url, token, ref)
        done = request("POST", f"{base_url(url)}{API}/alerts/{_ref(alert['id'])}/{action}",
                       {"who": who, "note": note}, token=token)
        out.write(f"{done['id']}: {done['state']}\n")
    return 0


def escalations_list(url: str | None, token: str | None, *, output: str = "simple",
                     out: TextIO = sys.stdout) -> int:
    items = request("GET", f"{base_url(url)}{API}/escalations", token=token)
    if output == "json":
        out.write(json.dumps(items) + "\n")
        return 0
    rows = [("ID", "ALERTNAME", "POLICY", "NEXT LEVEL", "RECEIVERS", "DUE", "IN")]
    for e in items:
        level = f"{e['level']}{' (repeat)' if e['repeat'] else ''}"
        due_in = "paused (acknowledged)" if e["paused"] else _seconds(e["due_in_seconds"])
        rows.append((e["id"][:SHORT_ID], e["alertname"], e["policy"], level, ",".join(e["receivers"]),
                     _short(e["due_at"]), due_in))
    print_table(rows, out)
    return 0


def _seconds(s: float) -> str:
    s = max(0, round(s))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


def stats(url: str | None, token: str | None, *, days: int, flap_threshold: int, top: int, tz: str,
          as_json: bool = False, out: TextIO = sys.stdout) -> int:
    import msgspec

    from tocsin.incidents.stats import Stats, render_stats

    query = urllib.parse.urlencode({"days": days, "flap_threshold": flap_threshold, "top": top, "tz": tz})
    data = request("GET", f"{base_url(url)}{API}/stats?{query}", token=token)
    if as_json:
        out.write(json.dumps(data, indent=2) + "\n")
        return 0
    out.write(render_stats(msgspec.convert(data, Stats)))
    return 0


def remediations_list(url: str | None, token: str | None, *, state: list[str], limit: int,
                      output: str = "simple", out: TextIO = sys.stdout) -> int:
    query = [("state", s) for s in state] + [("limit", str(limit))]
    runs = request("GET", f"{base_url(url)}{API}/remediations?{urllib.parse.urlencode(query)}", token=token)
    if output == "json":
        out.write(json.dumps(runs) + "\n")
        return 0
    rows = [("ID", "CREATED", "REMEDIATION", "STATE", "ALERTNAME", "CONFIDENCE", "RESULT", "WHAT")]
    for r in runs:
        result = " ".join(p for p in (
            f"exit {r['exit_code']}" if r["exit_code"] is not None else "",
            f"HTTP {r['http_status']}" if r["http_status"] is not None else "",
            r["reason"] or r["error"] or "") if p)
        rows.append((r["id"], _short(r["created_at"]), r["remediation"], r["state"], r["alertname"],
                     r["confidence"] or "", result[:40], (r["summary"] or "")[:60]))
    print_table(rows, out)
    return 0


def remediations_decide(url: str | None, token: str | None, action: str, ids: list[str], *,
                        who: str | None, note: str, out: TextIO = sys.stdout) -> int:
    who = who or getpass.getuser()
    for run_id in ids:
        done = request("POST", f"{base_url(url)}{API}/remediations/{_ref(run_id)}/{action}",
                       {"who": who, "note": note}, token=token)
        out.write(f"{done['id']}: {done['state']}\n")
    return 0
