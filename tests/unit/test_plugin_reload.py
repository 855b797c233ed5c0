"""A reload loads the plugins installed since start; one that fails is named where its
kind is missing; a rejected reload leaves no plugin of its own behind."""

from __future__ import annotations

import pytest
import structlog

import tocsin.plugins
from tocsin import hookimpl
from tocsin.channels import ChannelConfig, ChannelKind
from tocsin.config.document import ConfigError
from tocsin.core.events import AlertReceived, ConfigReloaded
from tocsin.daemon.serve import ConfigLoader
from tocsin.plugins import ENTRY_POINT_GROUP, PluginManager
from tocsin.testing import make_config, post, running, wait_until

BASE = """
route:
  receiver: team
receivers:
  - name: team
"""
NEEDS_NEWKIND = BASE + "    newkind_configs: [{}]\n"


class FakeDist:
    name = "tocsin-newkind"
    version = "1.0"


class FakeEntryPoint:
    def __init__(self, name: str, value: str, *, plugin: object = None, error: Exception | None = None):
        self.name, self.value, self.group = name, value, ENTRY_POINT_GROUP
        self.module = value.split(":")[0]
        self.dist = FakeDist()
        self._plugin, self._error = plugin, error

    def load(self) -> object:
        if self._error is not None:
            raise self._error
        return self._plugin


class NewKind:
    @hookimpl
    def tocsin_channel_kinds(self) -> list[ChannelKind]:
        return [ChannelKind("newkind", ChannelConfig, lambda config, ctx: None)]


@pytest.fixture
def installed(monkeypatch) -> list[FakeEntryPoint]:
    """The entry points Python finds: none at first; a test installs some."""
    found: list[FakeEntryPoint] = []
    monkeypatch.setattr(tocsin.plugins, "entry_points", lambda *, group: list(found))
    monkeypatch.delenv("TOCSIN_DISABLE_PLUGINS", raising=False)
    return found


def loader_for(tmp_path, text: str) -> ConfigLoader:
    path = tmp_path / "tocsin.yml"
    path.write_text(text)
    pm = PluginManager()
    pm.load_entry_points()
    return ConfigLoader(path, pm)


def test_a_reload_loads_a_plugin_installed_since_start(tmp_path, installed):
    loader = loader_for(tmp_path, BASE)
    loader.load()
    installed.append(FakeEntryPoint("newkind", "tocsin_newkind", plugin=NewKind()))
    loader.path.write_text(NEEDS_NEWKIND)
    with structlog.testing.capture_logs() as logs:
        config, before = loader.reload()
    assert "newkind" not in before
    assert loader.pm.has_plugin("newkind")
    assert [i.kind for i in config.receivers["team"].integrations] == ["newkind"]
    assert [(e["plugin"], e["distribution"], e["version"]) for e in logs
            if e["event"] == "plugin loaded at reload"] == [("newkind", "tocsin-newkind", "1.0")]
    # Loaded once: the next reload loads nothing again.
    with structlog.testing.capture_logs() as logs:
        loader.reload()
    assert [e for e in logs if e["event"] == "plugin loaded at reload"] == []


def test_a_rejected_reload_unloads_the_plugins_it_loaded(tmp_path, installed):
    loader = loader_for(tmp_path, BASE)
    loader.load()
    installed.append(FakeEntryPoint("newkind", "tocsin_newkind", plugin=NewKind()))
    loader.path.write_text(NEEDS_NEWKIND + "  - name: team\n")  # a duplicate receiver
    with pytest.raises(ConfigError, match="not unique"):
        loader.reload()
    assert not loader.pm.has_plugin("newkind")
    loader.path.write_text(NEEDS_NEWKIND)
    loader.reload()
    assert loader.pm.has_plugin("newkind")


def test_a_rejected_reload_keeps_the_plugins_its_config_would_disable(tmp_path, installed):
    installed.append(FakeEntryPoint("newkind", "tocsin_newkind", plugin=NewKind()))
    loader = loader_for(tmp_path, NEEDS_NEWKIND)
    loader.load()
    # Disables the plugin whose kind it still uses: refused, and the plugin stays.
    loader.path.write_text(NEEDS_NEWKIND + "plugins:\n  disable: [newkind]\n")
    with pytest.raises(ConfigError, match="no loaded plugin provides channel kind 'newkind'"):
        loader.reload()
    assert loader.pm.has_plugin("newkind")


def test_a_plugin_that_fails_at_reload_is_skipped_and_named_where_its_kind_is_missing(tmp_path, installed):
    loader = loader_for(tmp_path, BASE)
    loader.load()
    installed.append(FakeEntryPoint("newkind", "tocsin_newkind",
                                    error=ImportError("No module named 'somedependency'")))
    with structlog.testing.capture_logs() as logs:
        loader.reload()  # the config does not need it: the reload goes on
    assert [e["plugin"] for e in logs if e["event"] == "plugin failed to load; skipped"] == ["newkind"]
    loader.path.write_text(NEEDS_NEWKIND)
    with pytest.raises(ConfigError) as caught:
        loader.reload()
    assert ("no loaded plugin provides channel kind 'newkind' (available: none); plugins that failed "
            "to load: newkind (ImportError: No module named 'somedependency')") in caught.value.render()


def test_a_plugin_whose_own_module_is_not_found_at_reload_asks_for_a_restart(tmp_path, installed):
    loader = loader_for(tmp_path, BASE)
    loader.load()
    # Its metadata is there, its code is not where the running process looks (pip install -e).
    missing = ModuleNotFoundError("No module named 'tocsin_newkind'", name="tocsin_newkind")
    installed.append(FakeEntryPoint("newkind", "tocsin_newkind.plugin", error=missing))
    loader.path.write_text(NEEDS_NEWKIND)
    with pytest.raises(ConfigError) as caught:
        loader.reload()
    assert ("newkind (ModuleNotFoundError: No module named 'tocsin_newkind' (installed after tocsin "
            "started? restart tocsin to load it))") in caught.value.render()


def test_plugins_disable_is_read_again_at_each_reload(tmp_path, installed):
    installed.append(FakeEntryPoint("newkind", "tocsin_newkind", plugin=NewKind()))
    loader = loader_for(tmp_path, BASE + "plugins:\n  disable: [newkind]\n")
    loader.load()
    assert not loader.pm.has_plugin("newkind")
    with structlog.testing.capture_logs() as logs:
        loader.reload()
    assert not loader.pm.has_plugin("newkind")
    assert [e for e in logs if e["event"] == "plugin loaded at reload"] == []
    loader.path.write_text(NEEDS_NEWKIND)  # taken out of plugins.disable
    loader.reload()
    assert loader.pm.has_plugin("newkind")
    loader.path.write_text(BASE + "plugins:\n  disable: [newkind]\n")
    loader.reload()
    assert not loader.pm.has_plugin("newkind")


class Observer:
    def __init__(self) -> None:
        self.events: list[object] = []

    @hookimpl
    def tocsin_observe(self, runtime, event) -> None:
        self.events.append(event)


async def test_an_observer_loaded_at_reload_sees_the_events_from_then_on(tmp_path):
    config = "route:\n  receiver: r\nreceivers:\n  - name: r\n"
    async with running(config, tmp_path) as rt:
        observer = Observer()
        rt.hooks.register(observer, name="late-observer")
        await rt.reload(make_config(config, rt.hooks))
        await post(rt, {"labels": {"alertname": "A"}})
        await wait_until(lambda: any(isinstance(e, AlertReceived) for e in observer.events),
                         message="the observer loaded at reload to see the alert")
        assert isinstance(observer.events[0], ConfigReloaded)
