"""The command line for incidents: ``tocsin alerts``, ``tocsin escalations``,
``tocsin stats``. Each talks to a running daemon over ``/api/tocsin/v1``."""

from __future__ import annotations

import getpass
import json
import sys
import urllib.parse
from typing import Any, TextIO

from tocsin.cli.tools import CLIError, _table, base_url, request
from tocsin.core.timefmt import format_ts

__all__ = [
    "alerts_change", "alerts_list", "alerts_show", "escalations_list", "remediations_decide",
    "remediations_list", "stats",
]

API = "/api/tocsin/v1"
#: Characters of an alert id that lists show: the 12 of its creation time in
#: milliseconds, which alerts posted in one request share, and 8 of its random part.
SHORT_ID = 20


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
    _table(rows, out)
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
    _table(rows, out)
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
    _table(rows, out)
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
    _table(rows, out)
    return 0


def remediations_decide(url: str | None, token: str | None, action: str, ids: list[str], *,
                        who: str | None, note: str, out: TextIO = sys.stdout) -> int:
    who = who or getpass.getuser()
    for run_id in ids:
        done = request("POST", f"{base_url(url)}{API}/remediations/{_ref(run_id)}/{action}",
                       {"who": who, "note": note}, token=token)
        out.write(f"{done['id']}: {done['state']}\n")
    return 0
