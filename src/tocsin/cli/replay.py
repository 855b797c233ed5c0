"""``tocsin replay``: what the stored history of a window would have paged with another
config, before it goes live; ``--verify``: whether replaying it under the configs that ran
reproduces what was sent.

Exit status 0: no difference; 1: a difference; 2: the replay could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tocsin.cli.common import DEFAULT_CONFIG, STDOUT, SubParsers, command, print_json
from tocsin.core.durations import Duration

if TYPE_CHECKING:
    from tocsin.config.server import StorageLocation
    from tocsin.replay.routing import Routing

__all__ = ["add_commands", "parse_when", "render_report", "render_verify", "replay"]

#: Exit statuses.
SAME, DIFFERENT, FAILED = 0, 1, 2
#: Alerts listed per list in text output.
LISTED = 20


def add_commands(sub: SubParsers) -> None:
    p = command(sub, "replay", "replay stored history through a changed config and say what would have "
                               "paged differently (exit 0: nothing, 1: something, 2: error)",
                output=("simple", "text", "json"))
    p.set_defaults(func=_cmd)  # simple and text are the same: the report to read
    p.add_argument("--config", metavar="NEW.yml", help="the changed config (required unless --verify)")
    p.add_argument("--against", metavar="OLD.yml",
                   help="compare with this config (default: the configs the daemon recorded as in force)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--storage", metavar="PATH", help="the SQLite database to read")
    where.add_argument("--url", metavar="URL", help="the PostgreSQL database to read (postgresql://...; "
                                                    "default $TOCSIN_REPLAY_URL)")
    p.add_argument("--daemon-config", default=DEFAULT_CONFIG, metavar="PATH",
                   help=f"without --storage or --url: the database this daemon config names "
                        f"(default $TOCSIN_CONFIG or {DEFAULT_CONFIG})")
    p.add_argument("--since", default="7d", help="window start: RFC 3339 time, Unix seconds or a duration "
                                                 "ago (default 7d)")
    p.add_argument("--until", default=None, help="window end (default now), as --since")
    p.add_argument("--verify", action="store_true",
                   help="replay under the configs that ran and print how it differs from the "
                        "notifications recorded")


def parse_when(text: str, now: float) -> float:
    """A duration ago (``7d``), Unix seconds, or an RFC 3339 time."""
    try:
        return now - float(Duration.parse(text))
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is no time: expected a duration ago (7d), Unix seconds or "
                         "an RFC 3339 time") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _cmd(args: argparse.Namespace) -> int:
    from tocsin.daemon.logsetup import configure_logging

    configure_logging("warning", "console")  # on stderr; simulated sends log nothing
    return replay(args, STDOUT)


def replay(args: argparse.Namespace, out: TextIO) -> int:
    from tocsin.config.document import ConfigError
    from tocsin.replay.run import ReplayError
    from tocsin.store import StorageError

    try:
        result = _run(args)
    except (ReplayError, StorageError, ValueError, OSError) as exc:
        print(f"tocsin: error: {exc}", file=sys.stderr)
        return FAILED
    except ConfigError as exc:
        print(f"tocsin: error: {exc.render()}", file=sys.stderr)
        return FAILED
    if args.output == "json":
        print_json(result, out)
    elif args.verify:
        render_verify(result, out)
    else:
        render_report(result, out)
    return DIFFERENT if result["differs"] else SAME


def _routing(path: str) -> Routing:
    from tocsin.daemon.serve import ConfigLoader, load_plugins
    from tocsin.replay.routing import from_config

    return from_config(ConfigLoader(Path(path), load_plugins()).load())


def _where(args: argparse.Namespace) -> StorageLocation:
    from tocsin.config.server import parse_storage
    from tocsin.daemon.serve import ConfigLoader, load_plugins

    given: str | None = args.storage or args.url or os.environ.get("TOCSIN_REPLAY_URL")
    if given:
        return parse_storage(given)
    return ConfigLoader(Path(args.daemon_config), load_plugins()).load().storage.location


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from tocsin.replay.run import ReplayError, Window, verify, what_if

    now = time.time()
    window = Window(parse_when(args.since, now), parse_when(args.until, now) if args.until else now)
    if window.until <= window.since:
        raise ReplayError("--until must come after --since")
    if not args.verify and not args.config:
        raise ReplayError("--config NEW.yml is required (or --verify)")
    new = _routing(args.config) if args.config and not args.verify else None
    old = _routing(args.against) if args.against else None
    if args.verify:
        return verify(_where(args), window, old)
    assert new is not None
    return what_if(_where(args), new, old, window)


# -- text ------------------------------------------------------------------------------------


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _alert(alerts: dict[str, Any], inc: str) -> str:
    a = alerts.get(inc)
    if a is None:
        return inc
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(a["labels"].items()) if k != "alertname")
    return f"{a['alertname']}{{{labels}}} [{a['severity'] or '-'}] fired {_when(a['fired_at'])} ({inc[-8:]})"


def _list(out: TextIO, title: str, items: list[str]) -> None:
    if not items:
        return
    out.write(f"  {title} ({len(items)}):\n")
    for line in items[:LISTED]:
        out.write(f"    {line}\n")
    if len(items) > LISTED:
        out.write(f"    ... and {len(items) - LISTED} more (-o json lists them all)\n")


def _receiver(out: TextIO, r: dict[str, Any], alerts: dict[str, Any]) -> None:
    n = r["notifications"]
    out.write(f"\nreceiver {r['receiver']}: notifications {n['old']} -> {n['new']}\n")
    _list(out, "newly reaching", [_alert(alerts, i) for i in r["newly_reaching"]])
    _list(out, "no longer reaching", [_alert(alerts, i) for i in r["no_longer_reaching"]])
    _list(out, "newly muted", [f"{_alert(alerts, m['alert'])} by {', '.join(m['by'])}"
                               for m in r["newly_muted"]])
    _list(out, "unmuted", [f"{_alert(alerts, m['alert'])} was {', '.join(m['was'])}" for m in r["unmuted"]])
    _list(out, "groups split", [f"{g['group']} into {len(g['into'])}: {'; '.join(g['into'])}"
                                for g in r["groups_split"]])
    _list(out, "groups merged", [f"{g['group']} from {len(g['from'])}: {'; '.join(g['from'])}"
                                 for g in r["groups_merged"]])
    f = r["first_notification"]
    if f["changed"]:
        out.write(f"  time to first notification: {f['changed']} of {f['alerts']} alerts moved; "
                  f"median {f['median_old_s']}s -> {f['median_new_s']}s\n")


def render_report(report: dict[str, Any], out: TextIO) -> None:
    w, n = report["window"], report["notifications"]
    out.write(f"replayed {report['alerts_replayed']} alerts from {_when(w['since'])} "
              f"to {_when(w['until'])} UTC\n"
              f"OLD: config {', '.join(report['configs']['old'])}   NEW: config {report['configs']['new']}\n"
              f"group notifications: OLD {n['old']}, NEW {n['new']}\n")
    if not report["differs"]:
        out.write("no difference\n")
        return
    for r in report["receivers"]:
        _receiver(out, r, report["alerts"])
    paging = report["paging_changed"]
    out.write(f"\npaging changed for {len(paging)} alert(s), most severe first:\n")
    for p in paging[:LISTED * 5]:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(p["labels"].items()) if k != "alertname")
        out.write(f"  {p['severity'] or '-':<9} {p['alertname']}{{{labels}}} fired {_when(p['fired_at'])}: "
                  f"{','.join(p['receivers_old']) or '(nobody)'} -> "
                  f"{','.join(p['receivers_new']) or '(nobody)'}\n")
    if len(paging) > LISTED * 5:
        out.write(f"  ... and {len(paging) - LISTED * 5} more (-o json lists them all)\n")


def render_verify(result: dict[str, Any], out: TextIO) -> None:
    w = result["window"]
    out.write(f"replayed {result['alerts_replayed']} alerts from {_when(w['since'])} "
              f"to {_when(w['until'])} UTC "
              f"under config {', '.join(result['configs'])}\n"
              f"alert notifications: recorded {result['recorded']}, replayed {result['replayed']}\n")
    if not result["differs"]:
        out.write("no difference: the replay reproduces what was sent\n")
        return
    for d in result["differences"]:
        out.write(f"  only {d['only']:<8} {_when(d['at'])} {d['receiver']}/{d['integration']} "
                  f"{d['status']} {d['alertname']} ({d['alert'][-8:]})\n")
    if result["difference_count"] > len(result["differences"]):
        out.write(f"  ... {result['difference_count'] - len(result['differences'])} more\n")
    for g in result["groups"]:
        out.write(f"  group notification only {g['only']} {_when(g['at'])} "
                  f"{g['receiver']}/{g['integration']}: "
                  f"{len(g['alerts'])} alert(s)\n")
