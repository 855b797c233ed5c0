"""What tocsin.testing offers a plugin's tests for looking things up: the installed plugins,
the kinds they bring, and config entries decoded as a config file would be."""

from __future__ import annotations

import pytest

from tocsin.channels.webhook import WebhookConfig
from tocsin.testing import (
    ConfigError,
    FakeChannel,
    FakeChannelConfig,
    channel_config,
    channel_kind,
    installed_plugin,
    make_config,
    remediation_kind,
)


def test_installed_plugin_says_where_a_plugin_comes_from():
    info = installed_plugin("webhook")
    assert (info.module, info.distribution, info.loaded) == ("tocsin.channels.webhook", "tocsin", True)
    with pytest.raises(AssertionError, match="no plugin 'nope'"):
        installed_plugin("nope")


def test_kinds_are_found_as_tocsin_finds_them():
    assert channel_kind("webhook").config is WebhookConfig
    assert channel_kind("fake", [FakeChannel()]).config is FakeChannelConfig
    assert remediation_kind("command").name == "command"
    with pytest.raises(KeyError):
        channel_kind("fake")  # only when given


def test_channel_config_decodes_as_a_config_file_does():
    config = channel_config(WebhookConfig, {"url": "http://127.0.0.1:9/hook", "timeout": "2s"})
    assert float(config.timeout) == 2.0
    assert str(config.url) == "http://127.0.0.1:9/hook"


def test_config_error_is_what_make_config_raises():
    with pytest.raises(ConfigError):
        make_config("route: {receiver: nope}\n")
