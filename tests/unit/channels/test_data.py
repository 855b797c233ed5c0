import pytest

from tocsin.channels.data import link_url


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" https://grafana.example/d/1?x=y ", "https://grafana.example/d/1?x=y"),
        ("http://h/", "http://h/"),
        ("ftp://h/file", None),
        ("/relative/path", None),
        ("https://h/a b", None),
        ("https://h/" + "x" * 30, None),
        ("", None),
        (None, None),
    ],
)
def test_link_url_takes_short_absolute_http_urls_only(value, expected):
    assert link_url(value, 32) == expected
