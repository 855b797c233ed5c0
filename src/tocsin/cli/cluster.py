"""``tocsin cluster status``: the replicas sharing a PostgreSQL database, as a running
replica sees them (``/api/v2/status``'s ``cluster``)."""

from __future__ import annotations

import argparse
import time
from typing import TextIO

from tocsin.cli.common import STDOUT, SubParsers, base_url, command, group, print_json, print_table, request

__all__ = ["add_commands", "cluster_status"]


def add_commands(sub: SubParsers) -> None:
    csub = group(sub, "cluster", "the replicas on a shared database", daemon=True)
    cs = command(csub, "status", "the leader, its epoch, and the replicas seen lately", daemon=True)
    cs.set_defaults(func=_cmd_cluster)


def _cmd_cluster(args: argparse.Namespace) -> int:
    return cluster_status(args.url, args.token, output=args.output)


def cluster_status(url: str | None, token: str | None, *, output: str = "simple",
                   out: TextIO = STDOUT) -> int:
    """Print the cluster; 1 when it is not ``ready`` (no replicas, or the database unreachable)."""
    cluster = request("GET", f"{base_url(url)}/api/v2/status", token=token)["cluster"]
    if output == "json":
        print_json(cluster, out)
        return 0 if cluster.get("status") == "ready" else 1
    if cluster.get("status") == "disabled":
        out.write("cluster: disabled (one tocsin; storage.replicas is off)\n")
        return 1
    out.write(f"cluster: {cluster.get('status')}  leader: {cluster.get('leader') or '-'}  "
              f"epoch: {cluster.get('epoch', '-')}  this replica: {cluster.get('name')}\n")
    if cluster.get("error"):
        out.write(f"error: {cluster['error']}\n")
    rows = [("NAME", "ADDRESS", "LEADER", "CONFIG", "LAST SEEN")]
    rows += [(p["name"], p["address"], "yes" if p.get("leader") else "",
              p.get("configHash", "") + (" (differs from the leader's)" if p.get("configDiffers") else ""),
              _ago(p.get("lastSeen"))) for p in cluster.get("peers", [])]
    print_table(rows, out)
    return 0 if cluster.get("status") == "ready" else 1


def _ago(seen: float | None) -> str:
    return "" if seen is None else f"{max(0.0, time.time() - seen):.1f}s ago"
