"""Modules that moved keep their old names for one release, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import sys

import pytest

from tocsin import remediation
from tocsin.config import types, validate
from tocsin.core import models

MOVED = [
    ("tocsin.models", models, "Alert"),
    ("tocsin.remediations", remediation, "RemediationKind"),
    ("tocsin.configtypes", types, "Secret"),
    ("tocsin.validate", validate, "field_error"),
]


@pytest.mark.parametrize(("old", "new", "name"), MOVED)
def test_an_old_name_imports_with_a_warning_and_gives_the_new_modules_names(old, new, name):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated: import from {new.__name__}"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(new, name)
