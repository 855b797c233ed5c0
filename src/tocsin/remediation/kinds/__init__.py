"""The built-in remediation kinds, one plugin each, and what they share.

Each kind is a :class:`~tocsin.remediation.RemediationKind` (config Struct,
factory, load-time check) in its own module, contributed by that module's
``tocsin_remediation_kinds`` hook and registered through its own
``tocsin.plugins`` entry point, exactly as a third-party kind would be. So one
can be turned off by name (``plugins.disable`` or ``TOCSIN_DISABLE_PLUGINS``)
and the others still load:

=========================  ===========  ==================================================
entry point                ``kind:``    module
=========================  ===========  ==================================================
``remediation-command``    ``command``  :mod:`.command`: a program, argv from templates
``remediation-systemd``    ``systemd``  :mod:`.systemd`: ``systemctl <action> -- <unit>``
``remediation-webhook``    ``webhook``  :mod:`.webhook`: one HTTP request, optionally signed
=========================  ===========  ==================================================

What they share, and plugin kinds may reuse: :mod:`.templating`
(:class:`TemplateText`, a template config field; :class:`CompiledTemplate`,
compiled at load and rendered strictly), :mod:`.process` (:func:`run_process`,
the no-shell runner that kills the whole process group) and :mod:`.output`
(capturing output up to ``max_output``).

This package registers nothing itself. It gives the shared helpers under the
names they had when the kinds were one module (``from tocsin.remediation.kinds
import CompiledTemplate, TemplateText, run_process``); a kind's own names
(``COMMAND``, ``WebhookRemediation``...) are imported from its module only when
asked for, so a kind that is turned off, or fails to import, is never loaded
through another.
"""

from __future__ import annotations

import importlib
from typing import Any

from tocsin.remediation.kinds.process import DEFAULT_ENV_ALLOW, run_process
from tocsin.remediation.kinds.templating import CompiledTemplate, TemplateText

__all__ = ["DEFAULT_ENV_ALLOW", "CompiledTemplate", "TemplateText", "run_process"]

_FROM_KIND_MODULES = {
    "command": ("COMMAND", "CommandConfig", "CommandRemediation"),
    "systemd": ("SYSTEMD", "SYSTEMD_ENV_ALLOW", "UNIT_SUFFIXES", "SystemdConfig", "SystemdRemediation",
                "unit_problem"),
    "webhook": ("WEBHOOK", "WebhookRemediation", "WebhookRemediationConfig", "shown_url"),
}
_MODULE_OF = {name: module for module, names in _FROM_KIND_MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
