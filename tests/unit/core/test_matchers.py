"""tocsin.core.matchers: Alertmanager's matcher syntax and semantics (pkg/labels in v0.25)."""

from __future__ import annotations

import pytest

from tocsin.core.matchers import (
    Matcher,
    MatcherError,
    MatchType,
    matchers_string,
    matches_all,
    parse_matcher,
    parse_matchers,
    split_matchers,
)

EQ, NE, RE, NRE = MatchType.EQUAL, MatchType.NOT_EQUAL, MatchType.REGEX, MatchType.NOT_REGEX


def triples(matchers: list[Matcher]) -> list[tuple[str, MatchType, str]]:
    return [(m.name, m.type, m.value) for m in matchers]


# --- parse_matcher: one matcher ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "type_", "value"),
    [
        ('foo="bar"', "foo", EQ, "bar"),
        ('foo!="bar"', "foo", NE, "bar"),
        ('foo=~"bar.*"', "foo", RE, "bar.*"),
        ('foo!~"bar.*"', "foo", NRE, "bar.*"),
        # Unquoted values are accepted.
        ("foo=bar", "foo", EQ, "bar"),
        ("foo!=bar", "foo", NE, "bar"),
        ("statuscode=~5..", "statuscode", RE, "5.."),
        # '=~' is tried before '=': the rest after it is the value.
        ("tricky=~~~", "tricky", RE, "~~"),
        # Empty values, quoted or not.
        ('foo=""', "foo", EQ, ""),
        ("job=", "job", EQ, ""),
        ('job!~""', "job", NRE, ""),
        # Whitespace around each of the three tokens is dropped; inside quotes it is kept.
        ('  foo   =   "bar"  ', "foo", EQ, "bar"),
        ('\tfoo\n!=\r" a b "\n', "foo", NE, " a b "),
        ("foo = bar baz ", "foo", EQ, "bar baz"),
        # Label names may contain ':' and '_' and digits after the first character.
        ('__name__="up"', "__name__", EQ, "up"),
        ('a:b_1="x"', "a:b_1", EQ, "x"),
        ('_="x"', "_", EQ, "x"),
        # Non-ASCII values pass through untouched.
        ('msg="gender-neutral…  ünïcödé 🔥"', "msg", EQ, "gender-neutral…  ünïcödé 🔥"),
        # A comma is just a character in a single matcher.
        ('foo="bar,quux"', "foo", EQ, "bar,quux"),
    ],
)
def test_parse_matcher_valid(text: str, name: str, type_: MatchType, value: str) -> None:
    m = parse_matcher(text)
    assert (m.name, m.type, m.value) == (name, type_, value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # OpenMetrics escapes: \" \n \\ .
        (r'foo="a\"b"', 'a"b'),
        (r'foo="line1\nline2"', "line1\nline2"),
        (r'foo="back\\slash"', "back\\slash"),
        (r'foo="\\n"', "\\n"),  # an escaped backslash followed by a plain n
        (r'foo="\\\""', '\\"'),
        (r'quote="She said: \"Hi, ladies! That\'s gender-neutral…\""',
         "She said: \"Hi, ladies! That\\'s gender-neutral…\""),
        # Spurious escapes keep their backslash.
        (r'foo="\d+\.\w"', r"\d+\.\w"),
        (r'foo="a\tb"', r"a\tb"),
        # From Alertmanager's parse_test.go: unquoted, with escapes.
        (r"trickier==\\=\=\"", '=\\=\\="'),
        # A single backslash as the very last character is literal.
        ("foo=bar\\", "bar\\"),
        # A literal line feed inside the value is tolerated.
        ('foo="a\nb"', "a\nb"),
    ],
)
def test_parse_matcher_escapes(text: str, value: str) -> None:
    assert parse_matcher(text).value == value


def test_parse_matcher_keeps_non_ascii_whitespace_like_go() -> None:
    # Go's \s is [\t\n\f\r ]: a no-break space or a vertical tab is part of the value.
    assert parse_matcher("foo=\u00a0bar").value == "\u00a0bar"
    assert parse_matcher("foo=bar\u00a0").value == "bar\u00a0"
    assert parse_matcher("foo=\vbar").value == "\vbar"


@pytest.mark.parametrize(
    ("text", "expected_in_message"),
    [
        ("foo", ["bad matcher format", "foo"]),
        ("=bar", ["bad matcher format", "=bar"]),
        ('"foo"="bar"', ["bad matcher format"]),
        ("", ["bad matcher format"]),
        ("foo~=bar", ["bad matcher format", "foo~=bar"]),
        ('invalid-name = "valid label"', ["bad matcher format", "invalid-name"]),
        ('1abc="x"', ["bad matcher format", "1abc"]),
        # Double-escaped strings, as pasted from JSON or a shell, from parse_test.go.
        (r'"foo=\"bar\""', ["bad matcher format"]),
        (r'"foo="bar""', ["bad matcher format"]),
    ],
)
def test_parse_matcher_bad_format(text: str, expected_in_message: list[str]) -> None:
    with pytest.raises(MatcherError) as exc:
        parse_matcher(text)
    for part in expected_in_message:
        assert part in str(exc.value)


def test_double_equals_is_an_unescaped_quote_error() -> None:
    # foo=="x" reads as name foo, op =, value ="x" whose quote is not the first character.
    with pytest.raises(MatcherError, match="unescaped double quote") as exc:
        parse_matcher('foo=="x"')
    assert '="x"' in str(exc.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('contains_unescaped_quote = foo"bar', 'foo"bar'),
        ('job=value"', 'value"'),
        ('foo="a"b"', '"a"b"'),
        ('foo="a" "b"', '"a" "b"'),
        (r'trickier==\\=\=\""', r'=\\=\=\""'),
    ],
)
def test_unescaped_quote_in_the_middle(text: str, shown: str) -> None:
    with pytest.raises(MatcherError) as exc:
        parse_matcher(text)
    message = str(exc.value)
    assert "unescaped double quote" in message
    assert shown in message


@pytest.mark.parametrize("text", ['job="value', 'job="value\\"', 'job="'])
def test_missing_closing_quote(text: str) -> None:
    with pytest.raises(MatcherError) as exc:
        parse_matcher(text)
    message = str(exc.value)
    assert "closing double quote" in message
    assert text.split("=", 1)[1] in message


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('severity=~"(crit"', "(crit"),
        ('foo=~"invalid[regexp"', "invalid[regexp"),
        ('foo!~"*x"', "*x"),
        ('foo=~"a)"', "a)"),
    ],
)
def test_invalid_regex(text: str, pattern: str) -> None:
    with pytest.raises(MatcherError) as exc:
        parse_matcher(text)
    assert f'invalid regex "{pattern}"' in str(exc.value)


def test_invalid_regex_is_not_checked_for_equality_matchers() -> None:
    m = parse_matcher('foo="(crit"')
    assert m.matches("(crit")


def test_matcher_error_is_a_value_error() -> None:
    assert issubclass(MatcherError, ValueError)


# --- Matcher.matches --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ('foo="bar"', "bar", True),
        ('foo="bar"', "Bar", False),
        ('foo="bar"', "barx", False),
        ('foo="bar"', "", False),
        ('foo!="bar"', "bar", False),
        ('foo!="bar"', "baz", True),
        ('foo!="bar"', "", True),
        ('foo=""', "", True),
        ('foo=""', "x", False),
        ('foo!=""', "", False),
        ('foo!=""', "x", True),
        # Regexes are anchored at both ends.
        ('foo=~"bar"', "bar", True),
        ('foo=~"bar"', "foobar", False),
        ('foo=~"bar"', "barfoo", False),
        ('foo=~"bar"', "xbarx", False),
        ('foo=~"ba."', "baz", True),
        ('foo=~"bar.*"', "barbaz", True),
        ('foo=~".*bar"', "foobar", True),
        ('foo=~"a|b"', "a", True),
        ('foo=~"a|b"', "b", True),
        ('foo=~"a|b"', "ab", False),  # both alternatives are anchored
        ('foo=~"a|b"', "xa", False),
        ('foo=~"a|b"', "bx", False),
        ('foo=~"5.."', "503", True),
        ('foo=~"5.."', "5031", False),
        ('foo=~""', "", True),
        ('foo=~""', "x", False),
        ('foo=~".*"', "", True),
        ('foo=~".+"', "", False),
        ('foo=~".+"', "x", True),
        # A trailing newline is not swallowed by the end anchor, and . excludes it.
        ('foo=~"bar"', "bar\n", False),
        ('foo=~".*"', "a\nb", False),
        ('foo=~"(?s).*"', "a\nb", True),
        # Case-insensitive flag at the start, as commonly written in Alertmanager configs.
        ('foo=~"(?i)crit"', "CRIT", True),
        ('foo=~"(?i)crit"', "Crit", True),
        ('foo=~"(?i)crit"', "critical", False),
        ('foo=~"(?i:crit)ical"', "CRITical", True),
        ('foo=~"(?i:crit)ical"', "CRITICAL", False),
        ('foo!~"(?i)crit"', "CRIT", False),
        # (?m) inside the pattern does not loosen the outer anchors.
        ('foo=~"(?m)b"', "a\nb", False),
        # Negative regexes.
        ('foo!~"bar"', "bar", False),
        ('foo!~"bar"', "foobar", True),
        ('foo!~"bar"', "", True),
        ('foo!~".+"', "", True),
        ('foo!~".*"', "", False),
        ('foo!~"a|b"', "ab", True),
        # Escaped regex metacharacters.
        (r'foo=~"a\\.b"', "a.b", True),
        (r'foo=~"a\\.b"', "axb", False),
        (r'foo=~"a\.b"', "a.b", True),  # spurious escape kept: the regex sees a\.b
        (r'foo=~"a\.b"', "axb", False),
    ],
)
def test_matches(text: str, value: str, expected: bool) -> None:
    assert parse_matcher(text).matches(value) is expected


def test_regex_anchors_are_textual_like_alertmanager() -> None:
    # Alertmanager compiles "^(?:" + value + ")$"; a value that closes the group
    # itself ends up with one anchor per alternative (amtool 0.25 routes foo=axyz
    # and foo=xyzb through foo=~"a)|(b"). Checked against amtool in conformance.
    m = parse_matcher('foo=~"a)|(b"')
    assert m.matches("axyz")
    assert m.matches("xyzb")
    assert not m.matches("xyz")


def test_matches_labels_missing_label_is_empty_string() -> None:
    labels = {"alertname": "X"}
    assert parse_matcher('foo=""').matches_labels(labels)
    assert parse_matcher('foo!="bar"').matches_labels(labels)
    assert parse_matcher('foo=~".*"').matches_labels(labels)
    assert parse_matcher('foo!~".+"').matches_labels(labels)
    assert not parse_matcher('foo="bar"').matches_labels(labels)
    assert not parse_matcher('foo=~".+"').matches_labels(labels)
    assert not parse_matcher('foo!=""').matches_labels(labels)
    assert parse_matcher('alertname="X"').matches_labels(labels)


def test_matches_all() -> None:
    ms = parse_matchers('{alertname="X", severity=~"crit|page", team!="db"}')
    assert matches_all(ms, {"alertname": "X", "severity": "page"})
    assert matches_all(ms, {"alertname": "X", "severity": "crit", "team": "web"})
    assert not matches_all(ms, {"alertname": "X", "severity": "crit", "team": "db"})
    assert not matches_all(ms, {"alertname": "X", "severity": "warning"})
    assert not matches_all(ms, {"severity": "crit"})
    assert matches_all([], {})
    assert matches_all([], {"a": "b"})


def test_create_compiles_regex_and_rejects_bad_ones() -> None:
    m = Matcher.create("x", RE, "a+")
    assert m.matches("aaa")
    assert not m.matches("aab")
    with pytest.raises(MatcherError, match=r'invalid regex "\[a"'):
        Matcher.create("x", NRE, "[a")


def test_equality_ignores_compiled_regex() -> None:
    assert parse_matcher('a=~"b"') == Matcher.create("a", RE, "b")
    assert parse_matcher('a=~"b"') != parse_matcher('a!~"b"')
    assert parse_matcher('a="b"') != parse_matcher('a="c"')
    assert hash(parse_matcher('a=~"b"')) == hash(Matcher.create("a", RE, "b"))


def test_match_type_properties() -> None:
    assert [t.value for t in MatchType] == ["=", "!=", "=~", "!~"]
    assert [t.is_regex for t in (EQ, NE, RE, NRE)] == [False, False, True, True]
    assert [t.is_negative for t in (EQ, NE, RE, NRE)] == [False, True, False, True]


# --- parse_matchers / split_matchers: lists ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{foo="bar"}', [("foo", EQ, "bar")]),
        ('{foo=~"bar.*"}', [("foo", RE, "bar.*")]),
        ('{foo!="bar"}', [("foo", NE, "bar")]),
        ('{foo!~"bar.*"}', [("foo", NRE, "bar.*")]),
        ('{foo="bar", baz!="quux"}', [("foo", EQ, "bar"), ("baz", NE, "quux")]),
        (
            '{foo="bar",baz!~".*quux", derp="wat"}',
            [("foo", EQ, "bar"), ("baz", NRE, ".*quux"), ("derp", EQ, "wat")],
        ),
        ('{foo="bar", instance=~"some-api.*"}', [("foo", EQ, "bar"), ("instance", RE, "some-api.*")]),
        ('{foo=""}', [("foo", EQ, "")]),
        # Commas inside quotes do not separate.
        ('{foo="bar,quux", job="job1"}', [("foo", EQ, "bar,quux"), ("job", EQ, "job1")]),
        ('a="x,y",b=~"1,2"', [("a", EQ, "x,y"), ("b", RE, "1,2")]),
        # ...not even after an escaped quote inside the quotes.
        (r'a="x\",y", b=c', [("a", EQ, 'x",y'), ("b", EQ, "c")]),
        # Trailing comma and whitespace are dropped.
        ('{foo = "bar", dings != "bums", }', [("foo", EQ, "bar"), ("dings", NE, "bums")]),
        ("foo=bar,", [("foo", EQ, "bar")]),
        ("foo=bar , ", [("foo", EQ, "bar")]),
        # Braces are optional, on either side.
        ("foo=bar,dings!=bums", [("foo", EQ, "bar"), ("dings", NE, "bums")]),
        ("foo=bar, dings!=bums", [("foo", EQ, "bar"), ("dings", NE, "bums")]),
        ("{foo=bar", [("foo", EQ, "bar")]),
        ("foo=bar}", [("foo", EQ, "bar")]),
        (
            'contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',
            [("contains_quote", NE, '"'), ("contains_comma", NRE, "foo,bar")],
        ),
        ('{quote="She said: \\"Hi, ladies!\\""}', [("quote", EQ, 'She said: "Hi, ladies!"')]),
        # Nothing at all.
        ("", []),
        ("{}", []),
        ("  ", []),
        # The same name twice is allowed and kept in written order.
        ('a="1",a!="2"', [("a", EQ, "1"), ("a", NE, "2")]),
    ],
)
def test_parse_matchers(text: str, expected: list[tuple[str, MatchType, str]]) -> None:
    assert triples(parse_matchers(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{foo="bar",,baz="x"}', "bad matcher format"),  # an empty matcher between commas
        ("{foo}", "bad matcher format"),
        ('{foo="bar", baz}', "bad matcher format"),
        ('{foo="bar", job="value}', "closing double quote"),
        ('{foo=~"invalid[regexp"}', 'invalid regex "invalid[regexp"'),
        ('{invalid-name = "valid label"}', "bad matcher format"),
        (r'"{foo=\"bar"}', "bad matcher format"),
        (r'"{foo=\"bar\"}"', "bad matcher format"),
    ],
)
def test_parse_matchers_errors(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as exc:
        parse_matchers(text)
    assert message in str(exc.value)


def test_parse_matchers_error_names_the_bad_matcher() -> None:
    with pytest.raises(MatcherError) as exc:
        parse_matchers('a="ok", b=~"(crit", c="fine"')
    assert '"(crit"' in str(exc.value)


def test_split_matchers_splits_outside_quotes_only() -> None:
    parts = [p.strip() for p in split_matchers('{a="x,y", b=~"1,2" ,c=d}')]
    assert parts == ['a="x,y"', 'b=~"1,2"', "c=d"]
    parts = [p.strip() for p in split_matchers(r'a="q\",r",b="s"')]
    assert parts == [r'a="q\",r"', 'b="s"']
    assert split_matchers("") == []
    assert split_matchers("{}") == []
    assert [p.strip() for p in split_matchers("a=b, ")] == ["a=b"]


# --- str(Matcher) and matchers_string ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "text"),
    [
        (Matcher.create("foo", EQ, "bar"), 'foo="bar"'),
        (Matcher.create("foo", NE, "bar"), 'foo!="bar"'),
        (Matcher.create("foo", RE, "bar.*"), 'foo=~"bar.*"'),
        (Matcher.create("foo", NRE, "bar.*"), 'foo!~"bar.*"'),
        (Matcher.create("foo", EQ, ""), 'foo=""'),
        # OpenMetrics escaping only: backslash, newline, double quote.
        (Matcher.create("foo", EQ, 'a"b'), r'foo="a\"b"'),
        (Matcher.create("foo", EQ, "a\\b"), r'foo="a\\b"'),
        (Matcher.create("foo", EQ, "a\nb"), r'foo="a\nb"'),
        (Matcher.create("foo", RE, r"\d+"), r'foo=~"\\d+"'),
        # Tabs and non-ASCII are written as they are.
        (Matcher.create("foo", EQ, "a\tb"), 'foo="a\tb"'),
        (Matcher.create("foo", EQ, "ünï 🔥"), 'foo="ünï 🔥"'),
    ],
)
def test_str(matcher: Matcher, text: str) -> None:
    assert str(matcher) == text


@pytest.mark.parametrize(
    "value",
    ["", "plain", 'a"b', "a\\b", "a\nb", "\\n", '\\"', 'x\\', 'mix "q" \\ \n , } {', "ünï 🔥", "a\tb"],
)
@pytest.mark.parametrize("type_", [EQ, NE])
def test_str_round_trips(value: str, type_: MatchType) -> None:
    m = Matcher.create("label", type_, value)
    back = parse_matcher(str(m))
    assert (back.name, back.type, back.value) == ("label", type_, value)
    assert parse_matchers("{" + str(m) + ", other=x}")[0] == m


def test_matchers_string() -> None:
    ms = [Matcher.create("a", EQ, "b"), Matcher.create("c", RE, "d|e"), Matcher.create("f", NE, 'g"')]
    assert matchers_string(ms) == r'{a="b",c=~"d|e",f!="g\""}'
    assert matchers_string([]) == "{}"
    assert matchers_string([Matcher.create("x", NRE, "")]) == '{x!~""}'
    # Written order is kept: sorting is the caller's business (routes sort).
    assert matchers_string(reversed(ms)) == r'{f!="g\"",c=~"d|e",a="b"}'


def test_sort_key_orders_by_name_value_then_type() -> None:
    ms = parse_matchers('z="1", a!~"2", a="2", a=~"1", a!="2", a=~"2"')
    ordered = sorted(ms, key=Matcher.sort_key)
    assert [str(m) for m in ordered] == ['a=~"1"', 'a="2"', 'a!="2"', 'a=~"2"', 'a!~"2"', 'z="1"']


def test_regex_classes_are_ascii_like_go_re2():
    m = parse_matcher('bar=~"5\\d"')
    assert m.matches("53")
    assert not m.matches("5\u0663")  # ARABIC-INDIC DIGIT THREE is no \d in RE2
    assert not parse_matcher('x=~"\\w+"').matches("é")
