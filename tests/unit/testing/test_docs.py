"""The test kit documents itself: every name tocsin.testing exports says what it is, and
the README's plugin-testing paragraph names what a plugin's tests reach for."""

from __future__ import annotations

import inspect
from pathlib import Path

import tocsin.testing

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def test_every_exported_name_has_a_docstring_of_its_own():
    for name in tocsin.testing.__all__:
        obj = getattr(tocsin.testing, name)
        doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
        assert doc, f"tocsin.testing.{name} has no docstring"
        assert len(doc.strip()) > 20, f"tocsin.testing.{name} has no docstring"


def test_the_readme_names_the_helpers_and_their_knobs():
    section = README.split("## Writing a plugin", 1)[1].split("\n## ", 1)[0]
    for text in ("wait_until(", "FakeChannel(", "fake_configs", ".fail_next(", ".hang_next(", ".release()",
                 ".hang = True", ".held", "instant_retries(", "no_jitter()", "EventRecorder",
                 "dead_letters(", "remediation_runs(", "installed_plugin(", "channel_kind(",
                 "channel_config(", "serving("):
        assert text in section, f"README's plugin-testing paragraph does not mention {text}"


def test_the_package_docstring_names_each_module():
    doc = inspect.getdoc(tocsin.testing) or ""
    for module in ("harness", "waiting", "receiver", "fakechannel", "retries", "process", "pytest_plugin"):
        assert f"tocsin.testing.{module}" in doc, module
