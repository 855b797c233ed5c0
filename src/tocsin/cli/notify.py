"""``tocsin notify test``: a synthetic firing alert through every integration of a
receiver, or with ``--dry-run`` what each would send."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from tocsin.cli.common import DEFAULT_CONFIG, CLIError

__all__ = ["add_commands", "notify_test"]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    nt = sub.add_parser("notify", help="notification tools")
    ntsub = nt.add_subparsers(dest="notify_command", required=True)
    ntt = ntsub.add_parser("test", help="send a synthetic firing alert through a receiver's integrations")
    ntt.add_argument("--config", default=DEFAULT_CONFIG)
    ntt.add_argument("--receiver", required=True)
    ntt.add_argument("--dry-run", action="store_true", help="print what each integration would send")
    ntt.set_defaults(func=_cmd_test)


def _cmd_test(args: argparse.Namespace) -> int:
    return notify_test(args.config, args.receiver, dry_run=args.dry_run)


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
