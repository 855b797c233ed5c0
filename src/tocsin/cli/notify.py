"""``tocsin notify test``: a synthetic firing alert through every integration of a
receiver, or with ``--dry-run`` what each would send."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any, TextIO

from tocsin.cli.common import DEFAULT_CONFIG, STDOUT, CLIError, SubParsers, command, group, print_json

__all__ = ["add_commands", "notify_test"]


def add_commands(sub: SubParsers) -> None:
    ntsub = group(sub, "notify", "notification tools")
    ntt = command(ntsub, "test", "send a synthetic firing alert through a receiver's integrations")
    ntt.add_argument("--config", default=DEFAULT_CONFIG)
    ntt.add_argument("--receiver", required=True)
    ntt.add_argument("--dry-run", action="store_true", help="print what each integration would send")
    ntt.set_defaults(func=_cmd_test)


def _cmd_test(args: argparse.Namespace) -> int:
    return notify_test(args.config, args.receiver, dry_run=args.dry_run, output=args.output)


def notify_test(config_path: str, receiver: str, *, dry_run: bool = False, output: str = "simple",
                out: TextIO = STDOUT) -> int:
    """Send a synthetic firing alert through every integration of a receiver
    (or, with ``dry_run``, print what each would send); exit 1 when one failed. With
    ``-o json``, an array of ``{"integration", "status"`` (sent, failed, preview)``,
    "error" | "preview"}``."""
    results: list[dict[str, Any]] = []
    status = asyncio.run(_notify_test(config_path, receiver, dry_run, results))
    if output == "json":
        print_json(results, out)
        return status
    for r in results:
        if r["status"] == "preview":
            out.write(f"{r['integration']}: would send:\n{r['preview']}\n")
        elif r["status"] == "sent":
            out.write(f"{r['integration']}: sent\n")
        else:
            out.write(f"{r['integration']}: FAILED: {r['error']}\n")
    return status


async def _notify_test(config_path: str, receiver: str, dry_run: bool, results: list[dict[str, Any]]) -> int:
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
                results.append({"integration": ispec.name, "status": "preview", "preview": shown})
                continue
            try:
                await asyncio.wait_for(channel.send(n), float(ispec.config.timeout))
                results.append({"integration": ispec.name, "status": "sent"})
            except (DeliveryError, TimeoutError) as exc:
                failed += 1
                results.append({"integration": ispec.name, "status": "failed",
                                "error": str(exc) or "timed out"})
    return 1 if failed else 0
