"""The ``command`` kind's option rule: a templated argument that renders to text starting
with ``-`` is refused unless ``argv_options`` lists its index; fixed arguments, and
anything after a fixed ``--``, are never refused. Loaded from config as the daemon
loads it; the allowed cases run for real."""

from __future__ import annotations

import json

import pytest

from tests.unit.remediation.kinds.helpers import alert_data, ctx, load, problems, script
from tocsin.remediation import RemediationRefused

DUMP_ARGV = """\
import json, sys
print(json.dumps(sys.argv[1:]))
"""


def command(tmp_path, *args: str, extra: str = "") -> object:
    prog = script(tmp_path / "dump", DUMP_ARGV)
    argv = ", ".join(json.dumps(a) for a in (str(prog), *args))
    return load(f"""
        - name: fix
          kind: command
          argv: [{argv}]
        {extra}""")


@pytest.mark.parametrize("template", ["{{ labels.rev }}", "{{ labels.rev }}.txt", "-{{ labels.rev }}",
                                      "--since={{ labels.rev }}"])
@pytest.mark.parametrize("rev", ["--output=/tmp/x", "-o/tmp/x", "-", "--"])
def test_a_templated_argument_that_renders_an_option_is_refused(tmp_path, template, rev):
    spec = command(tmp_path, "log", template)
    with pytest.raises(RemediationRefused) as refused:
        spec.remediation.render(alert_data(rev=rev))
    message = str(refused.value)
    assert message.startswith("argv[2] rendered as ")
    assert "list 2 in argv_options" in message
    assert "'--'" in message
    assert refused.value.rendered is not None  # the argv that was refused, for the record
    assert refused.value.rendered.detail["argv"][2].startswith("-")


@pytest.mark.parametrize("rev", ["main", "a-b", " -x", "x --output=/tmp/x", "", "é"])
async def test_a_templated_argument_that_is_no_option_runs(tmp_path, session, rev):
    spec = command(tmp_path, "{{ labels.rev }}")
    rendered = spec.remediation.render(alert_data(rev=rev))
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok, out
    assert json.loads(out.output) == [rev]


async def test_fixed_arguments_and_operands_after_a_fixed_double_dash_are_never_refused(tmp_path, session):
    spec = command(tmp_path, "-v", "--count", "3", "--", "{{ labels.rev }}", "-{{ labels.rev }}")
    rendered = spec.remediation.render(alert_data(rev="--output=/tmp/x"))
    out = await spec.remediation.execute(rendered, ctx(session))
    assert out.ok, out
    assert json.loads(out.output) == ["-v", "--count", "3", "--", "--output=/tmp/x", "---output=/tmp/x"]


def test_a_double_dash_from_a_template_is_no_separator(tmp_path):
    spec = command(tmp_path, "{{ labels.sep }}", "{{ labels.rev }}", extra="  argv_options: [1]")
    with pytest.raises(RemediationRefused, match=r"^argv\[2\] rendered as '-x'"):
        spec.remediation.render(alert_data(sep="--", rev="-x"))


async def test_argv_options_allows_exactly_the_listed_elements(tmp_path, session):
    spec = command(tmp_path, "{{ labels.a }}", "{{ labels.b }}", extra="  argv_options: [2]")
    rendered = spec.remediation.render(alert_data(a="x", b="--verbose"))
    out = await spec.remediation.execute(rendered, ctx(session))
    assert json.loads(out.output) == ["x", "--verbose"]
    with pytest.raises(RemediationRefused, match=r"^argv\[1\] rendered as '--verbose'"):
        spec.remediation.render(alert_data(a="--verbose", b="x"))


def test_a_long_value_is_cut_in_the_reason(tmp_path):
    spec = command(tmp_path, "{{ labels.rev }}")
    with pytest.raises(RemediationRefused) as refused:
        spec.remediation.render(alert_data(rev="-" + "x" * 5000))
    assert len(str(refused.value)) < 400
    assert refused.value.rendered is not None
    assert refused.value.rendered.detail["argv"][1] == "-" + "x" * 5000


def test_argv_options_errors_name_the_field(tmp_path):
    prog = tmp_path / "x"

    def errors(argv: str, options: str) -> dict[str, str]:
        return problems(f"""
            - name: fix
              kind: command
              argv: {argv.replace("PROG", str(prog))}
              argv_options: {options}
            """)

    templ = '[PROG, "{{ labels.a }}", --, "{{ labels.b }}"]'
    assert errors(templ, "[4]") == {"remediations[0].argv_options[0]":
                                    "argv has no argument 4 (argv[0] is the program; its arguments are "
                                    "argv[1] to argv[3])"}
    assert list(errors(templ, "[1, 0]")) == ["remediations[0].argv_options[1]"]
    assert list(errors(templ, "[-1]")) == ["remediations[0].argv_options[0]"]
    assert errors(templ, "[2]") == {"remediations[0].argv_options[0]":
                                    "argv[2] ('--') is fixed text, not a template: it is never refused, "
                                    "so it needs no entry here"}
    assert errors(templ, "[3]") == {"remediations[0].argv_options[0]":
                                    "argv[3] comes after the fixed '--' at argv[2]: it is an operand and "
                                    "never refused, so it needs no entry here"}
    assert list(errors(templ, "[one]")) == ["remediations[0].argv_options[0]"]
