"""YAML errors never show a secret value: which keys are secret, which lines are masked,
and what the messages say instead."""

from __future__ import annotations

import msgspec
import pytest

from tocsin.channels import ChannelConfig, ChannelKind
from tocsin.config.document import ConfigDocument, load_config, secret_keys
from tocsin.config.masking import SecretMask, looks_secret, secret_field_names
from tocsin.config.types import URL, Secret
from tocsin.config.validate import ConfigError
from tocsin.config.yaml import parse


class _Nested(msgspec.Struct):
    api_token_value: Secret


class _PluginConfig(ChannelConfig):
    opaque: Secret | None = None
    many: list[Secret] = []
    per_user: dict[str, Secret] = {}
    endpoint: URL | None = None
    nested: _Nested | None = None
    plain: str = ""


def _plugin_kind() -> ChannelKind:
    return ChannelKind("myplugin", _PluginConfig, lambda config, ctx: None)


def test_secret_fields_are_found_by_type_in_the_schema_and_plugins():
    names = secret_field_names(ConfigDocument, _PluginConfig)
    assert {"smtp_auth_password", "signing_secret", "webhook_secrets", "basic_auth_users", "token",
            "slack_api_url", "pagerduty_url"} <= names
    assert {"opaque", "many", "per_user", "endpoint", "api_token_value"} <= names
    assert not {"plain", "smtp_auth_username", "name", "route", "receiver"} & names
    # The built-in channels' own configs, through their kinds.
    from tocsin.channels.webhook import WebhookConfig
    assert {"hmac_secret", "url"} <= secret_field_names(WebhookConfig)


@pytest.mark.parametrize(("name", "secret"), [
    ("password", True), ("smtp_auth_password", True), ("hmac_secret", True), ("api_key", True),
    ("bearer_token", True), ("credentials", True), ("name", False), ("receiver", False),
])
def test_names_that_look_secret(name, secret):
    assert looks_secret(name) is secret


@pytest.mark.parametrize(("text", "shown"), [
    ("  opaque: hunter22: x", "  opaque: <secret>"),
    ("  opaque:\thunter22", "  opaque:\t<secret>"),
    ("a: {user: u, opaque: hunter22}", "a: {user: u, opaque: <secret>"),
    ('a: {"opaque":"hunter22"}', 'a: {"opaque": <secret>'),
    ("- opaque: hunter22 # a comment", "- opaque: <secret>"),
    ("  plain: visible: x", "  plain: visible: x"),
])
def test_the_value_of_a_secret_key_is_masked_on_its_line(text, shown):
    mask = SecretMask.of(text, {"opaque"})
    assert mask.line(0) == shown


def test_the_lines_of_a_secret_value_are_masked_until_the_next_key():
    text = "\n".join([
        "many:",            # 0
        "- hunter22",       # 1: a list item at the key's indentation
        "  - more22",       # 2
        "per_user:",        # 3
        "  alice: pw_alice",  # 4: a mapping of secrets
        "",                 # 5
        "\tpw_tabbed",      # 6: tab-indented, refused by YAML: may still be the value
        "opaque: |",        # 7
        "  block_line",     # 8
        "plain: visible",   # 9
    ])
    mask = SecretMask.of(text, {"many", "per_user", "opaque"})
    shown = [mask.line(i) for i in range(10)]
    assert shown == ["many:", "<secret>", "  <secret>", "per_user:", "  <secret>", "", "\t<secret>",
                     "opaque: <secret>", "  <secret>", "plain: visible"]
    assert mask.scrub("found undefined alias 'pw_alice', and 'PW_TABBED'") == (
        "found undefined alias '<secret>', and '<secret>'")


def test_the_caret_is_shown_only_outside_the_masked_value():
    mask = SecretMask.of("  opaque:\thunter22: x", {"opaque"})
    assert mask.snippet(0, 9) == "      opaque:\t<secret>\n" + " " * 13 + "^"  # under the tab
    assert mask.snippet(0, 18) == "      opaque:\t<secret>"
    mask = SecretMask.of("\tplain: x", {"opaque"})
    assert mask.snippet(0, 7) == "    \tplain: x\n    \t      ^"  # tabs kept, to line up


@pytest.mark.parametrize(("text", "where"), [
    ("global:\n  smtp_auth_password: pw_hunter22: x\n", "line 2, column 34"),
    ("global:\n  smtp_auth_password:\tpw_hunter22\n", "line 2, column 22"),
    ("global:\n  smtp_auth_password: \"pw_hunter22\n", "line 2, column 23"),  # and its end, line 3
    ("global:\n  smtp_auth_password: *pw_hunter22\n", "line 2, column 23"),
    ("global:\n  smtp_auth_password: !pw_hunter22 x\n", "line 2, column 23"),
    ("global:\n  smtp_auth_password: !!bool pw_hunter22\n", "line 2, column 23"),
    ("global:\n  smtp_auth_password: !!int pw_hunter22\n", "line 2, column 23"),
    ("global:\n  smtp_auth_password: !!float pw_hunter22\n", "line 2, column 23"),
    ("global:\n  smtp_auth_password: !!timestamp pw_hunter22\n", "line 2, column 23"),
])
def test_yaml_errors_keep_the_line_and_column_and_lose_the_secret(text, where):
    with pytest.raises(ConfigError) as info:
        parse(text, "tocsin.yml")
    rendered = info.value.render()
    assert "hunter22" not in rendered.lower()
    assert "<secret>" in rendered
    assert where in rendered
    assert info.value.problems[0].line in (2, 3)


def test_a_plugins_secret_field_is_masked_by_the_config_loader():
    text = ("route: {receiver: r}\nreceivers:\n- name: r\n  myplugin_configs:\n"
            "  - opaque: hunter22: x\n")
    assert "opaque" in secret_keys({"myplugin": _plugin_kind()}, {})
    with pytest.raises(ConfigError) as info:
        load_config(text, {"myplugin": _plugin_kind()})
    assert "hunter22" not in info.value.render()
    assert "line 5, column 21" in info.value.render()


def test_other_lines_and_values_are_shown_as_before():
    with pytest.raises(ConfigError) as info:
        parse("route:\n  receiver: a: b\n")
    assert info.value.render() == (
        "line 2: <root>: invalid YAML: mapping values are not allowed here\n"
        "  at line 2, column 14:\n"
        "      receiver: a: b\n"
        "                 ^")
    with pytest.raises(ConfigError) as info:
        parse("port: !!int x\n")
    assert info.value.render().endswith("not a valid !!int value\n  at line 1, column 7:\n"
                                        "    port: !!int x\n          ^")


def test_a_document_nested_too_deeply_is_a_config_error():
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse("a: " + "[" * 5000)
