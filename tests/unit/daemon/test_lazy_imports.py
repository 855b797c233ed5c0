"""What a daemon whose config uses none of them does not import: each of these libraries
serves one feature and costs resident memory (docs/performance.md, "Memory")."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: Library -> the feature that needs it.
DEFERRED = {
    "jinja2": "a Jinja2 template", "tocsin.notify.gotemplate": "a Go template",
    "botocore": "an SNS receiver", "asyncpg": "PostgreSQL storage",
    "regex": "redact.patterns", "bcrypt": "basic-auth users",
}

WEBHOOK_ONLY = """\
route:
  receiver: hook
  group_by: [alertname]
receivers:
  - name: hook
    webhook_configs:
      - url: "http://127.0.0.1:9/hook"
"""

USING_ALL = """\
route:
  receiver: hook
receivers:
  - name: hook
    webhook_configs:
      - url: "http://127.0.0.1:9/hook"
        body_template: '{"s": "{{ status }}"}'
    sns_configs:
      - topic_arn: "arn:aws:sns:eu-west-1:123456789012:t"
        sigv4: {region: eu-west-1, access_key: AKIAEXAMPLE, secret_key: secret}
redact:
  patterns: ['ticket-\\d+']
"""

# The modules the daemon imports at start, then the config loaded and every receiver's
# channels built as the runtime does; the deferred libraries then in sys.modules.
PROBE = textwrap.dedent("""
    import asyncio, json, sys
    import aiohttp
    import tocsin.cli.main, tocsin.daemon.serve
    from tocsin.config.document import load_config
    from tocsin.notify import receivers
    from tocsin.plugins import PluginManager, channel_kinds, remediation_kinds

    pm = PluginManager()
    pm.load_entry_points()
    config = load_config(sys.stdin.read(), channel_kinds(pm), remediation_kinds=remediation_kinds(pm))

    async def build():
        async with aiohttp.ClientSession() as session:
            receivers.build(config.receivers, config.kinds, session=session, external_url="http://x",
                            global_config=config.global_, templates=config.templates)

    asyncio.run(build())
    print(json.dumps(sorted(m for m in sys.argv[1:] if m in sys.modules)))
""")


def imported(config: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *DEFERRED], input=config, capture_output=True,
                         text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_a_webhook_only_config_imports_none_of_the_deferred_libraries() -> None:
    assert {m: DEFERRED[m] for m in imported(WEBHOOK_ONLY)} == {}


def test_each_is_imported_once_its_feature_is_configured() -> None:
    # bcrypt is imported at the first basic-auth check, asyncpg when the store is PostgreSQL:
    # their own tests cover those (tests/unit/web/test_auth.py, tests/unit/store).
    assert imported(USING_ALL) == ["botocore", "jinja2", "regex", "tocsin.notify.gotemplate"]
