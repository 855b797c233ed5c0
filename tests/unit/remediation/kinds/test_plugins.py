"""tocsin.remediation.kinds: each built-in kind is its own plugin, found through its entry point."""

from __future__ import annotations

from tocsin.plugins import remediation_kinds
from tocsin.remediation.kinds.command import COMMAND
from tocsin.remediation.kinds.systemd import SYSTEMD
from tocsin.remediation.kinds.webhook import WEBHOOK
from tocsin.testing import make_plugins

# -- registration --------------------------------------------------------------------------------


def test_the_entry_point_contributes_the_three_kinds():
    kinds = remediation_kinds(make_plugins())
    assert {"command", "webhook", "systemd"} <= kinds.keys()
    assert (kinds["command"], kinds["webhook"], kinds["systemd"]) == (COMMAND, WEBHOOK, SYSTEMD)
