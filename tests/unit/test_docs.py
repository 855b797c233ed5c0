"""The docs must keep up with the code: every hook and config section is documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from tocsin import hookspecs
from tocsin.config.document import ConfigDocument

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
HOOKS_DOC = (ROOT / "docs" / "plugin-hooks.md").read_text()
EXAMPLE = (ROOT / "etc" / "tocsin" / "tocsin.yml").read_text()


def hook_names() -> list[str]:
    return [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("tocsin_")]


def test_there_are_hooks():
    assert {"tocsin_enrich", "tocsin_dedupe", "tocsin_mute", "tocsin_route", "tocsin_notify",
            "tocsin_remediate", "tocsin_channel_kinds", "tocsin_observe"} <= set(hook_names())


def test_every_hook_is_in_the_hook_reference_with_each_argument():
    sections = HOOKS_DOC.split("\n### ")
    for name in hook_names():
        params = list(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"`{name}({', '.join(params)})`" in HOOKS_DOC, f"docs/plugin-hooks.md lacks {name}"
        section = next((s for s in sections if s.startswith(f"`{name}(")), None)
        assert section is not None, f"docs/plugin-hooks.md has no section for {name}"
        for param in params:
            if param != "runtime":  # the facade, described once at the top
                assert f"`{param}`" in section.split("\n\n")[0], \
                    f"docs/plugin-hooks.md does not describe {name}'s {param}"
        assert f"`{name}`" in README, f"the README's plugin section does not name {name}"


def test_the_readme_points_at_the_hook_reference():
    assert "docs/plugin-hooks.md" in README


EXAMPLE_PLUGIN = "plugins/tocsin-example-channel"
#: ``<!-- file: PATH -->`` then a fenced block: the block is that file of the repository.
EMBEDDED = re.compile(r"<!-- file: (\S+) -->\n```[a-z]*\n(.*?)^```$", re.S | re.M)


def test_the_worked_channel_plugin_in_the_hook_reference_is_the_package_byte_for_byte():
    embedded = dict(EMBEDDED.findall(HOOKS_DOC))
    assert set(embedded) == {f"{EXAMPLE_PLUGIN}/pyproject.toml",
                             f"{EXAMPLE_PLUGIN}/src/tocsin_example_channel/__init__.py"}
    for path, text in embedded.items():
        assert text == (ROOT / path).read_text(), f"docs/plugin-hooks.md shows an old {path}: copy it again"


def test_the_readme_points_plugin_authors_at_the_worked_channel_plugin():
    writing = README.split("## Writing a plugin", 1)[1].split("\n## ", 1)[0]
    assert "docs/plugin-hooks.md#a-complete-channel-plugin" in writing
    assert "notification.event" in writing
    assert "\n### A complete channel plugin\n" in HOOKS_DOC


def test_every_hook_has_a_docstring():
    for name in hook_names():
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert len(doc) > 40, name


def test_every_config_section_is_documented_and_in_the_example():
    for key in ConfigDocument.__struct_encode_fields__:
        assert f"`{key}" in README, f"README does not document `{key}`"
        assert f"{key}:" in EXAMPLE, f"etc/tocsin/tocsin.yml does not show {key}:"


def test_readme_has_exactly_the_two_setup_commands_and_ci_runs_the_test_one():
    blocks = [b.split("```", 1)[0].strip() for b in README.split("```sh\n")[1:]]
    setup = [b for b in blocks if "pip install" in b]
    assert len(setup) == 2, setup
    serve, test = setup
    assert "tocsin serve --config etc/tocsin/tocsin.yml" in serve
    assert "pytest" in test
    assert test in (ROOT / ".ci" / "run").read_text()


def test_the_readme_quick_start_ends_by_opening_the_dashboard():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert quick.strip().splitlines()[-1].startswith("Then open http://127.0.0.1:9095/"), quick[-200:]
