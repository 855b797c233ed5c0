"""The ``tocsin`` command."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
from pathlib import Path

from tocsin import __version__

DEFAULT_CONFIG = os.environ.get("TOCSIN_CONFIG", "/etc/tocsin/tocsin.yml")


def _cmd_serve(args: argparse.Namespace) -> int:
    from tocsin.config.document import ConfigError
    from tocsin.daemon.logsetup import configure_logging
    from tocsin.daemon.serve import ConfigLoader, load_plugins, serve

    configure_logging(args.log_level or "info")
    pm = load_plugins()
    loader = ConfigLoader(Path(args.config), pm, {"listen": args.listen, "storage": args.storage})
    try:
        config = loader.load()
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    logging_cfg = config.document.logging
    configure_logging(args.log_level or logging_cfg.level, logging_cfg.format)
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop  # type: ignore[import-not-found]

        return uvloop.run(serve(loader))
    return asyncio.run(serve(loader))


def _cmd_check_config(args: argparse.Namespace) -> int:
    from tocsin.config.document import ConfigError
    from tocsin.daemon.serve import ConfigLoader, load_plugins

    status = 0
    for path in args.paths or [args.config]:
        try:
            config = ConfigLoader(Path(path), load_plugins()).load()
        except ConfigError as exc:
            print(exc.render())
            print(f"{path}: {len(exc.problems)} error(s)")
            status = 1
            continue
        print(f"{path}: OK: {config.summary()}")
    return status


def _cmd_plugins(args: argparse.Namespace) -> int:
    from tocsin.daemon.serve import load_plugins
    from tocsin.plugins import channel_kinds, remediation_kinds

    pm = load_plugins()
    contributed = (("channels", channel_kinds(pm)), ("remediations", remediation_kinds(pm)))
    for info in pm.infos:
        where = f"{info.distribution} {info.version}" if info.distribution else "?"
        state = "loaded" if info.loaded else f"FAILED: {info.error}"
        module = getattr(pm.get_plugin(info.name), "__name__", None)
        extra = ""
        for what, kinds in contributed:
            provides = sorted(k for k, v in kinds.items() if module and (
                v.factory.__module__ == module or v.factory.__module__.startswith(module + ".")))
            if provides:
                extra += f"  {what}: {', '.join(provides)}"
        print(f"{info.name:<22} {info.module:<32} {where:<20} {state}{extra}")
    return 0


def _cmd_route_test(args: argparse.Namespace) -> int:
    from tocsin.cli.tools import route_test

    return route_test(args.config, args.labels, tree=args.tree, verify=args.verify_receivers)


def _cmd_silence(args: argparse.Namespace) -> int:
    from tocsin.cli import tools as clitools

    if args.silence_command == "add":
        return clitools.silence_add(
            args.url, args.matchers, duration=args.duration, start=args.start, end=args.end,
            author=args.author, comment=args.comment,
        )
    if args.silence_command == "query":
        return clitools.silence_query(args.url, args.matchers, expired=args.expired,
                                      quiet=args.quiet, output=args.output)
    return clitools.silence_expire(args.url, args.ids)


def _cmd_dlq(args: argparse.Namespace) -> int:
    from tocsin.cli import tools as clitools

    if args.dlq_command == "list":
        return clitools.dlq_list(args.url, args.token, output=args.output)
    if args.dlq_command == "replay":
        return clitools.dlq_replay(args.url, args.token, args.ids)
    return clitools.dlq_drop(args.url, args.token, args.ids)


def _cmd_alerts(args: argparse.Namespace) -> int:
    from tocsin.cli import alerts as clialerts

    if args.alerts_command == "list":
        return clialerts.alerts_list(args.url, args.token, state=args.state, severity=args.severity,
                                     matchers=args.matchers, since=args.since, limit=args.limit,
                                     offset=args.offset, output=args.output)
    if args.alerts_command == "show":
        return clialerts.alerts_show(args.url, args.token, args.id, output=args.output)
    return clialerts.alerts_change(args.url, args.token, args.alerts_command, args.ids,
                                   who=args.who, note=args.note)


def _cmd_escalations(args: argparse.Namespace) -> int:
    from tocsin.cli import alerts as clialerts

    return clialerts.escalations_list(args.url, args.token, output=args.output)


def _cmd_remediations(args: argparse.Namespace) -> int:
    from tocsin.cli import alerts as clialerts

    if args.remediations_command == "list":
        return clialerts.remediations_list(args.url, args.token, state=args.state, limit=args.limit,
                                           output=args.output)
    return clialerts.remediations_decide(args.url, args.token, args.remediations_command, args.ids,
                                         who=args.who, note=args.note)


def _cmd_stats(args: argparse.Namespace) -> int:
    from tocsin.cli import alerts as clialerts

    return clialerts.stats(args.url, args.token, days=args.days, flap_threshold=args.flap_threshold,
                           top=args.top, tz=args.tz, as_json=args.json)


def _client_args(parser: argparse.ArgumentParser, hidden: bool = False) -> None:
    """--url and --token, accepted before or after the subcommand."""
    if hidden:
        parser.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        parser.add_argument("--token", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return
    parser.add_argument("--url", help="daemon URL (default $TOCSIN_URL or http://127.0.0.1:9095)")
    parser.add_argument("--token", help="bearer token (default $TOCSIN_TOKEN)")


def _cmd_notify_test(args: argparse.Namespace) -> int:
    from tocsin.cli.tools import notify_test

    return notify_test(args.config, args.receiver, dry_run=args.dry_run)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tocsin", description="Alert-routing daemon.")
    p.add_argument("--version", action="version", version=f"tocsin {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the daemon in the foreground")
    s.add_argument("--config", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    s.add_argument("--listen", help="HOST:PORT to listen on, overriding server.listen")
    s.add_argument("--storage", help="SQLite database path, overriding storage.path")
    s.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=_cmd_serve)

    c = sub.add_parser("check-config", help="validate config files; exit 1 on any error")
    c.add_argument("paths", nargs="*", help="config files (default: --config)")
    c.add_argument("--config", default=DEFAULT_CONFIG)
    c.set_defaults(func=_cmd_check_config)

    pl = sub.add_parser("plugins", help="plugins")
    plsub = pl.add_subparsers(dest="plugins_command", required=True)
    ls = plsub.add_parser("list", help="list plugins: name, module, distribution, state")
    ls.set_defaults(func=_cmd_plugins)

    r = sub.add_parser("route", help="routing tree tools")
    rsub = r.add_subparsers(dest="route_command", required=True)
    rt = rsub.add_parser("test", help="print the receivers an alert with these labels goes to, "
                                      "as amtool config routes test does")
    rt.add_argument("--config", default=DEFAULT_CONFIG)
    rt.add_argument("--tree", action="store_true", help="also print the matching routes")
    rt.add_argument("--verify.receivers", dest="verify_receivers", metavar="R1,R2",
                    help="exit 1 unless the receivers are exactly these")
    rt.add_argument("labels", nargs="*", help="label=value ...")
    rt.set_defaults(func=_cmd_route_test)

    si = sub.add_parser("silence", help="silences on a running daemon")
    si.add_argument("--url", help="daemon URL (default $TOCSIN_URL or http://127.0.0.1:9095)")
    ssub = si.add_subparsers(dest="silence_command", required=True)
    add = ssub.add_parser("add", help="add a silence; prints its id")
    add.add_argument("matchers", nargs="+", help='e.g. alertname=DiskFull instance=~"db.*"')
    add.add_argument("--duration", default="1h")
    add.add_argument("--start", help="RFC3339 start (default now)")
    add.add_argument("--end", help="RFC3339 end (overrides --duration)")
    add.add_argument("--author", "-a")
    add.add_argument("--comment", "-c", default="")
    q = ssub.add_parser("query", help="list silences (active and pending; --expired for the rest)")
    q.add_argument("matchers", nargs="*")
    q.add_argument("--expired", action="store_true")
    q.add_argument("--quiet", "-q", action="store_true", help="print ids only")
    q.add_argument("--output", "-o", choices=["simple", "json"], default="simple")
    ex = ssub.add_parser("expire", help="expire silences by id")
    ex.add_argument("ids", nargs="+")
    for parser in (add, q, ex):
        parser.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    si.set_defaults(func=_cmd_silence)

    dq = sub.add_parser("dlq", help="dead letters on a running daemon")
    dq.add_argument("--url", help="daemon URL (default $TOCSIN_URL or http://127.0.0.1:9095)")
    dq.add_argument("--token", help="bearer token (default $TOCSIN_TOKEN)")
    dsub = dq.add_subparsers(dest="dlq_command", required=True)
    dl = dsub.add_parser("list", help="notifications that exhausted their retries")
    dl.add_argument("--output", "-o", choices=["simple", "json"], default="simple")
    dr = dsub.add_parser("replay", help="send dead letters again (each once)")
    dr.add_argument("ids", nargs="+")
    dd = dsub.add_parser("drop", help="forget dead letters")
    dd.add_argument("ids", nargs="+")
    for parser in (dl, dr, dd):
        parser.add_argument("--url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        parser.add_argument("--token", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    dq.set_defaults(func=_cmd_dlq)

    al = sub.add_parser("alerts", help="alerts and their lifecycle on a running daemon")
    _client_args(al)
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
        _client_args(parser, hidden=True)
    al.set_defaults(func=_cmd_alerts)

    es = sub.add_parser("escalations", help="escalation steps still to come")
    _client_args(es)
    esub = es.add_subparsers(dest="escalations_command", required=True)
    elist = esub.add_parser("list", help="pending steps: alert, policy, level, receivers, when")
    elist.add_argument("--output", "-o", choices=["simple", "json"], default="simple")
    _client_args(elist, hidden=True)
    es.set_defaults(func=_cmd_escalations)

    rm = sub.add_parser("remediations", help="remediation runs on a running daemon: audit and approval")
    _client_args(rm)
    rsub2 = rm.add_subparsers(dest="remediations_command", required=True)
    rlist = rsub2.add_parser("list", help="runs, newest first: what ran, for which alert, how it went")
    rlist.add_argument("--state", action="append", default=[],
                       help="pending_approval, running, succeeded, failed, dry_run, rejected, cancelled, "
                            "skipped (repeatable)")
    rlist.add_argument("--limit", type=int, default=50)
    rlist.add_argument("--output", "-o", choices=["simple", "json"], default="simple")
    deciders = []
    for action, text in (("approve", "run a remediation waiting for approval"),
                         ("reject", "refuse a remediation waiting for approval")):
        dp = rsub2.add_parser(action, help=text)
        dp.add_argument("ids", nargs="+", help="run ids")
        dp.add_argument("--who", help="your name (default: the login name)")
        dp.add_argument("--note", default="")
        deciders.append(dp)
    for parser in (rlist, *deciders):
        _client_args(parser, hidden=True)
    rm.set_defaults(func=_cmd_remediations)

    st = sub.add_parser("stats", help="what fires most, when, and how fast it is handled")
    _client_args(st)
    st.add_argument("--days", type=int, default=7)
    st.add_argument("--flap-threshold", type=int, default=3,
                    help="flapping: more than this many firings within an hour")
    st.add_argument("--top", type=int, default=10, help="how many noisiest alerts to show")
    st.add_argument("--tz", default="UTC", help="time zone for the hour-of-day table")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=_cmd_stats)

    nt = sub.add_parser("notify", help="notification tools")
    ntsub = nt.add_subparsers(dest="notify_command", required=True)
    ntt = ntsub.add_parser("test", help="send a synthetic firing alert through a receiver's integrations")
    ntt.add_argument("--config", default=DEFAULT_CONFIG)
    ntt.add_argument("--receiver", required=True)
    ntt.add_argument("--dry-run", action="store_true", help="print what each integration would send")
    ntt.set_defaults(func=_cmd_notify_test)
    return p


def main(argv: list[str] | None = None) -> int:
    from tocsin.cli.tools import CLIError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"tocsin: error: {exc}", file=sys.stderr)
        return 1
