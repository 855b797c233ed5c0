"""YAML written as Go's yaml.v2 writes it (what Alertmanager's config.original is).

The expected texts are Alertmanager 0.25's own answers for the same values
(tests/conformance/test_config_show.py compares whole documents with the real one).
"""

from __future__ import annotations

import pytest

from tocsin.web.amv2.goyaml import Flow, dump, go_map_order, plain_allowed

#: (value, how yaml.v2 writes it as a mapping value)
SCALARS = [
    ("plain text", "plain text"),
    ("null", '"null"'), ("~", '"~"'), ("", '""'), ("y", '"y"'), ("yes", '"yes"'), ("on", '"on"'),
    ("Off", '"Off"'), ("0x1F", '"0x1F"'), ("1e3", '"1e3"'), (".5", '".5"'), ("08", '"08"'),
    ("010", '"010"'), ("+1", '"+1"'), ("0b101", '"0b101"'), ("1_000", '"1_000"'), ("0.5", '"0.5"'),
    ("1:30", '"1:30"'), ("09:00", '"09:00"'), ("12:30:00", '"12:30:00"'), ("2020-01-01", '"2020-01-01"'),
    ("2020-1-2 3:04:05", '"2020-1-2 3:04:05"'),
    # Not read as anything but a string by yaml.v2 (whatever YAML 1.1 says): plain, or
    # single-quoted where a plain scalar cannot start or end so.
    ("<<", "<<"), ("é ü", "é ü"), ("2020:2030", "2020:2030"), ("12:61", "12:61"), ("1e999", "1e999"),
    ("-", "'-'"), ("...", "'...'"), ("@x", "'@x'"), ("*x", "'*x'"), ("#x", "'#x'"), ("a: b", "'a: b'"),
    ("a #b", "'a #b'"), ("- x", "'- x'"), (" lead", "' lead'"), ("trail ", "'trail '"), ("%x", "'%x'"),
    ("!x", "'!x'"), ("&x", "'&x'"), (">", "'>'"), ("{{ .Status }}", "'{{ .Status }}'"),
    ('severity="critical"', 'severity="critical"'),
]


@pytest.mark.parametrize(("value", "written"), SCALARS)
def test_strings_are_quoted_as_yaml_v2_quotes_them(value, written):
    assert dump({"k": value}) == f"k: {written}\n"


def test_what_plain_allowed_says():
    assert plain_allowed("text")
    assert plain_allowed("<<")
    assert not plain_allowed("true")
    assert not plain_allowed("1:30")
    assert not plain_allowed("")


def test_other_scalars_and_sequences():
    assert dump({"b": True, "f": False, "i": 0, "x": None, "e": [], "m": {}, "n": 1}) == (
        'b: true\nf: false\ni: 0\nx: null\ne: []\nm: {}\n"n": 1\n')
    assert dump({"l": ["a", "1"], "w": Flow(["saturday", "1", "2020:2030"])}) == (
        "l:\n- a\n- \"1\"\nw: [saturday, \"1\", '2020:2030']\n")


def test_a_line_break_makes_a_literal_block_and_long_text_folds_at_80_columns():
    assert dump({"text": "line1\nline2\n", "pre": "a\nb"}) == "text: |\n  line1\n  line2\npre: |-\n  a\n  b\n"
    long = "a very long title text with spaces that goes on and on and on and on and on and on and on"
    assert dump({"r": [{"title": long}]}) == (
        "r:\n- title: a very long title text with spaces that goes on and on and on and on and\n"
        "    on and on and on\n")


def test_map_keys_in_yaml_v2_order():
    keys = ["a10", "a9", "a09", "B", "_x", "1", "10", "2", "02", "x-1", "x-10", "x-2", "é", "...", "0.5",
            "1_000", "Off", "yes", "a", "b"]
    assert go_map_order(keys) == [
        "...", "_x", "0.5", "1", "1_000", "2", "02", "10", "B", "Off", "a", "a9", "a09", "a10", "b", "x-1",
        "x-2", "x-10", "yes", "é"]
