"""tocsin.core.labels: fingerprints, LabelSet.String and label-name validation."""

from __future__ import annotations

import functools
import random
import string

import pytest

from tocsin.core.labels import fingerprint, go_quote, label_key, labelset_string, valid_label_name

# --- an independent reference for the fingerprint ---------------------------------------------

FNV64_PRIME = 0x100000001B3
FNV64_OFFSET = 0xCBF29CE484222325


def fnv1a64(data: bytes) -> int:
    return functools.reduce(lambda h, b: ((h ^ b) * FNV64_PRIME) % 2**64, data, FNV64_OFFSET)


def reference_fingerprint(labels: dict[str, str]) -> str:
    # One byte string for the whole set: name 0xFF value 0xFF, names in byte order.
    buf = bytearray()
    for name in sorted(labels, key=lambda n: n.encode()):
        buf += name.encode("utf-8") + b"\xff" + labels[name].encode("utf-8") + b"\xff"
    return f"{fnv1a64(bytes(buf)):016x}"


@pytest.mark.parametrize(
    ("data", "digest"),
    [
        # Published FNV-1a 64 test vectors, to trust the reference itself.
        (b"", 0xCBF29CE484222325),
        (b"a", 0xAF63DC4C8601EC8C),
        (b"foobar", 0x85944171F73967E8),
    ],
)
def test_reference_fnv1a64_vectors(data: bytes, digest: int) -> None:
    assert fnv1a64(data) == digest


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"alertname": "X", "job": "j"}, "73e97ba8ea424605"),
        ({"alertname": "X", "job": "k"}, "73ed7ba8ea462edc"),
        ({"alertname": "Y"}, "d2aaefc389c68e6f"),
        # The empty set hashes to the FNV offset basis (Prometheus' emptyLabelSignature).
        ({}, "cbf29ce484222325"),
    ],
)
def test_fingerprint_known_values(labels: dict[str, str], expected: str) -> None:
    assert fingerprint(labels) == expected
    assert reference_fingerprint(labels) == expected


@pytest.mark.parametrize(
    "labels",
    [
        {"a": ""},
        {"": ""},
        {"alertname": "HighLatency", "severity": "critical", "instance": "host:9100"},
        {"msg": "ünïcödé 🔥", "z": "\n\t\"\\"},
        {"b": "1", "a": "2", "a_b": "3", "a0": "4", "A": "5", "_": "6"},
    ],
)
def test_fingerprint_matches_reference(labels: dict[str, str]) -> None:
    assert fingerprint(labels) == reference_fingerprint(labels)


def test_fingerprint_matches_reference_on_random_sets() -> None:
    rng = random.Random(20250)
    alphabet = string.ascii_letters + string.digits + "_ ,=\"\\\n-é€🔥"
    def name() -> str:
        return rng.choice("ab_X") + "".join(rng.choices("ab_0", k=rng.randint(0, 3)))

    for _ in range(300):
        labels = {
            name(): "".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(rng.randint(0, 6))
        }
        assert fingerprint(labels) == reference_fingerprint(labels), labels


def test_fingerprint_is_16_lowercase_hex_digits() -> None:
    for labels in ({}, {"a": "b"}, {"alertname": "X", "job": "j"}, {"x": "y" * 1000}):
        fp = fingerprint(labels)
        assert len(fp) == 16
        assert all(c in "0123456789abcdef" for c in fp)
        int(fp, 16)


def test_fingerprint_ignores_dict_order() -> None:
    a = {"alertname": "X", "job": "j", "instance": "i1", "severity": "page"}
    b = dict(reversed(list(a.items())))
    assert list(a) != list(b)
    assert fingerprint(a) == fingerprint(b)
    assert label_key(a) == label_key(b)


def test_fingerprint_differs_for_different_sets() -> None:
    sets = [
        {},
        {"a": ""},
        {"a": "b"},
        {"a": "c"},
        {"b": "a"},
        {"a": "b", "c": "d"},
        {"a": "bc", "d": ""},
        {"ab": "c"},  # the 0xFF separators keep "ab"="c" apart from "a"="bc"
        {"a": "bc"},
        {"alertname": "X", "job": "j"},
        {"alertname": "X", "job": "k"},
        {"alertname": "X"},
    ]
    fps = [fingerprint(s) for s in sets]
    assert len(set(fps)) == len(sets)


def test_fingerprint_is_stable_across_calls() -> None:
    labels = {"alertname": "Cached", "job": "j"}
    first = fingerprint(labels)
    assert fingerprint(dict(labels)) == first
    assert fingerprint({"job": "j", "alertname": "Cached"}) == first


def test_label_key_is_sorted_pairs() -> None:
    assert label_key({"b": "2", "a": "1"}) == (("a", "1"), ("b", "2"))
    assert label_key({}) == ()


# --- labelset_string: Prometheus' LabelSet.String ---------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, "{}"),
        ({"a": "b"}, '{a="b"}'),
        ({"c": "d", "a": "b"}, '{a="b", c="d"}'),
        ({"alertname": "X", "job": "j", "env": ""}, '{alertname="X", env="", job="j"}'),
        # Sorting is over the formatted name="value" strings, as in Go: '0' < '=' < '_'.
        ({"a": "1", "a0": "2", "a_": "3"}, '{a0="2", a="1", a_="3"}'),
        ({"b": "x", "B": "y"}, '{B="y", b="x"}'),
    ],
)
def test_labelset_string(labels: dict[str, str], expected: str) -> None:
    assert labelset_string(labels) == expected


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", '"plain"'),
        ("", '""'),
        ("with space", '"with space"'),
        ("it's", '"it\'s"'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("a\nb", r'"a\nb"'),
        ("a\tb", r'"a\tb"'),
        ("a\rb", r'"a\rb"'),
        ("\a\b\f\v", r'"\a\b\f\v"'),
        ("\x00\x01\x1f", r'"\x00\x01\x1f"'),
        ("\x7f", r'"\x7f"'),
        # Printable non-ASCII stays as it is.
        ("ünïcödé €", '"ünïcödé €"'),
        ("🔥", '"🔥"'),
        # Non-printable runes: \u for the BMP, \U beyond.
        ("\u0085", r'"\u0085"'),
        ("no\u00a0break", r'"no\u00a0break"'),
        ("zero\u200bwidth", r'"zero\u200bwidth"'),
        ("\u2028", r'"\u2028"'),
        ("\ue000", r'"\ue000"'),
        ("\U000f0000", r'"\U000f0000"'),
    ],
)
def test_go_quote(value: str, quoted: str) -> None:
    assert go_quote(value) == quoted


def test_labelset_string_escapes_values_like_go() -> None:
    labels = {"msg": 'a "quoted"\nline', "path": "C:\\tmp", "z": "\u00a0"}
    assert labelset_string(labels) == r'{msg="a \"quoted\"\nline", path="C:\\tmp", z="\u00a0"}'


# --- valid_label_name ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alertname", "a", "_", "__name__", "A_b_9", "job2", "_0"])
def test_valid_label_names(name: str) -> None:
    assert valid_label_name(name) is True


@pytest.mark.parametrize(
    "name", ["", "1a", "9", "a-b", "a.b", "a:b", "a b", " a", "a\n", "é", "a/b", "...", "a$"]
)
def test_invalid_label_names(name: str) -> None:
    assert valid_label_name(name) is False


def test_the_c_hash_and_the_python_hash_agree():
    import random

    from tocsin.core.labels import _fnv1a, _fnv1a_c, _fnv1a_py

    if _fnv1a_c is None:
        pytest.skip("fnv-c is not installed here: the pure-Python hash is the only one")
    rnd = random.Random(5)
    alphabet = "ab_Zé\u00ff\"\\ \n😀\x00"
    for _ in range(3000):
        labels = tuple(sorted({
            "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 8))):
            "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
            for _ in range(rnd.randint(1, 5))}.items()))
        assert _fnv1a(labels) == _fnv1a_py(labels), labels


def test_both_fingerprint_paths_agree():
    """The C path (NUL-joined text, the NUL made 0xFF) and the cached pure-Python
    path give the same fingerprints, labels holding NUL, 0xFF or nothing included."""
    import random

    from tocsin.core.labels import _fingerprint_c, _fingerprint_cached, _fnv1a_c

    if _fnv1a_c is None:
        pytest.skip("fnv-c is not installed here: the pure-Python hash is the only one")
    rnd = random.Random(7)
    alphabet = "ab_Zé\u00ff\"\\ \n😀\x00"
    cases = [{}, {"a": ""}, {"a": "\x00"}, {"\x00": "\x00\x00"}]
    for _ in range(2000):
        cases.append({"".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 8))):
                      "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
                      for _ in range(rnd.randint(0, 6))})
    for labels in cases:
        assert _fingerprint_c(labels) == _fingerprint_cached(labels), labels
