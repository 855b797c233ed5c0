import pytest

from tocsin.core.severity import SEVERITIES, highest_severity, severity_level


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("critical", "critical"), (" CRIT ", "critical"), ("Err", "error"), ("warn", "warning"),
        ("information", "info"), ("informational", "info"), ("info", "info"),
        ("page", None), ("P1", None), ("", None), (None, None),
    ],
)
def test_severity_level_knows_the_levels_and_their_aliases(value, level):
    assert severity_level(value) == level


def test_severities_are_listed_most_severe_first():
    assert SEVERITIES == ("critical", "error", "warning", "info")


def test_highest_severity_ranks_known_levels_and_skips_the_rest():
    assert highest_severity(["info", "WARN", "page", None]) == "warning"
    assert highest_severity(["warning", "crit", "error"]) == "critical"
    assert highest_severity(["page", None, ""]) is None
    assert highest_severity([]) is None
