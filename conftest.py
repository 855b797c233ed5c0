"""Loads tocsin's own pytest plugin after coverage has started.

pytest imports entry-point plugins before coverage starts, and tocsin's plugin imports most
of tocsin: the lines run by those imports would count as never run. So ``-p no:tocsin`` in
pyproject.toml's addopts turns the entry point off, and the plugin is loaded here instead.
"""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("tocsin"):  # addopts overridden: the entry point loaded it
        config.pluginmanager.import_plugin("tocsin.testing.pytest_plugin")
