"""tocsin.remediation.kinds: each built-in kind is its own plugin, found through its own entry point,
so one can be turned off by name and the others still load."""

from __future__ import annotations

import textwrap

import pytest

from tocsin.cli.main import main
from tocsin.config.document import ConfigError
from tocsin.plugins import remediation_kinds
from tocsin.remediation.kinds.command import COMMAND
from tocsin.remediation.kinds.systemd import SYSTEMD
from tocsin.remediation.kinds.webhook import WEBHOOK
from tocsin.testing import make_config, make_plugins

# -- registration --------------------------------------------------------------------------------


def test_the_entry_point_contributes_the_three_kinds():
    kinds = remediation_kinds(make_plugins())
    assert {"command", "webhook", "systemd"} <= kinds.keys()
    assert (kinds["command"], kinds["webhook"], kinds["systemd"]) == (COMMAND, WEBHOOK, SYSTEMD)


def test_each_kind_has_its_own_entry_point_and_the_package_registers_nothing():
    pm = make_plugins()
    for name, kind in (("remediation-command", COMMAND), ("remediation-systemd", SYSTEMD),
                       ("remediation-webhook", WEBHOOK)):
        plugin = pm.get_plugin(name)
        assert plugin.__name__ == f"tocsin.remediation.kinds.{kind.name}"
        assert plugin.tocsin_remediation_kinds() == [kind]
    assert not pm.has_plugin("remediation-kinds")
    import tocsin.remediation.kinds as package

    assert not hasattr(package, "tocsin_remediation_kinds")


# -- disabling one by name -----------------------------------------------------------------------

#: One valid entry of each kind; loading it runs nothing.
ENTRIES = {
    "command": "- {name: run-it, kind: command, argv: [/bin/true]}",
    "systemd": "- {name: restart-it, kind: systemd, unit: app.service}",
    "webhook": "- {name: call-it, kind: webhook, url: 'http://127.0.0.1:9/hook'}",
}


def config_with(*kinds: str, disable: str = "") -> str:
    plugins = f"plugins:\n  disable: [{disable}]\n" if disable else ""
    entries = "\n".join(ENTRIES[k] for k in kinds)
    return ("route:\n  receiver: a\nreceivers:\n  - name: a\n" + plugins
            + "remediations:\n" + textwrap.indent(entries, "  ") + "\n")


@pytest.mark.parametrize("kind", sorted(ENTRIES))
def test_a_kind_disabled_by_name_is_a_config_error_on_its_kind_field_and_the_others_still_load(
        monkeypatch, kind):
    monkeypatch.setenv("TOCSIN_DISABLE_PLUGINS", f"remediation-{kind}")
    pm = make_plugins()
    others = sorted(ENTRIES.keys() - {kind})
    assert not pm.has_plugin(f"remediation-{kind}")
    assert kind not in remediation_kinds(pm)
    assert set(others) <= remediation_kinds(pm).keys()
    with pytest.raises(ConfigError) as exc:
        make_config(config_with(kind, *others), pm)
    [problem] = exc.value.problems  # the two other entries decode and build
    assert problem.path == "remediations[0].kind"
    assert problem.message.startswith(f"unknown remediation kind {kind!r} (available: ")
    assert all(other in problem.message for other in others)
    loaded = make_config(config_with(*others), pm).remediations.values()
    assert [spec.kind for spec in loaded] == others


def test_check_config_with_plugins_disable_names_the_field(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TOCSIN_DISABLE_PLUGINS", raising=False)
    path = tmp_path / "tocsin.yml"
    path.write_text(config_with("webhook", "command", "systemd", disable="remediation-webhook"))
    assert main(["check-config", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{path}: 1 error(s)"
    where, _, available = out[0].partition(": remediations[0].kind: unknown remediation kind 'webhook' ")
    assert where.startswith(f"{path}: line ")
    names = available.removeprefix("(available: ").removesuffix(")").split(", ")
    assert {"command", "systemd"} <= set(names)
    assert "webhook" not in names
    path.write_text(config_with("command", "systemd", disable="remediation-webhook"))
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: OK: ")
