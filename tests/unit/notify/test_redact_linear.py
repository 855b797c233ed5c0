"""The built-in redaction runs in linear time and still finds what its regular expressions did.

The URL-password and private-key rules were regular expressions that take quadratic time on
crafted text (``a.a.a.a...``, repeated BEGIN lines): one alert's annotations held the event
loop for a minute. They are now scans; these tests check that they redact exactly what the
old expressions did, and that crafted text of a megabyte is redacted at once.
"""

from __future__ import annotations

import re
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.notify.redact import _private_keys, _url_passwords

#: The expressions the scans replace, as they were.
URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+(?=@)")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----")

URL_PIECES = st.sampled_from(["a", "Z", "h", "9", "+", ".", "-", "_", ":", "/", "@", " ", "\n", "é",
                              "://", "http://", "u:p@", "x://u:p@h", "s3://k:s@b/", ":@", "//"])
KEY_PIECES = st.sampled_from(["-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----",
                              "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----",
                              "-----BEGIN ", "PRIVATE KEY-----", "x", "\n", " ", "-", "A"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(URL_PIECES, max_size=30).map("".join))
def test_url_passwords_redacts_what_the_regex_did(text):
    assert _url_passwords(text, "<r>") == URL_PASSWORD.sub(lambda m: m.group(1) + "<r>", text)


@settings(max_examples=2000, deadline=None)
@given(st.lists(KEY_PIECES, max_size=20).map("".join))
def test_private_keys_redacts_what_the_regex_did(text):
    assert _private_keys(text, "<r>") == PRIVATE_KEY.sub("<r>", text)


def test_examples():
    assert _url_passwords("see https://bob:hunter2@db.example/x", "<r>") == "see https://bob:<r>@db.example/x"
    assert _url_passwords("no password: https://bob@db", "<r>") == "no password: https://bob@db"
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
    assert _private_keys(f"k: {key} end", "<r>") == "k: <r> end"


CRAFTED = '''
import sys
from tocsin.notify.redact import Redactor
r = Redactor()
for text in ("a." * 500_000, "-----BEGIN A PRIVATE KEY-----" * 35_000, "a://" * 250_000,
             "x://" + "u" * 1_000_000, "token" + "a" * 1_000_000, "1 " * 500_000):
    r.text(text)
print("done")
'''


def test_a_megabyte_of_crafted_text_is_redacted_at_once():
    # Quadratic, the first of these took about 35 minutes (16,000 characters took 0.5 s).
    # Linear, all six take well under a second; the bound only tells hanging from done.
    out = subprocess.run([sys.executable, "-c", CRAFTED], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
