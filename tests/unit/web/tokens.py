"""The bearer tokens and configs the web tests share: one token per role."""

from __future__ import annotations

TOKENS = {
    "ingest": "ingest-token-0123456789",
    "read": "read-token-0123456789abc",
    "admin": "admin-token-0123456789ab",
}

BASE = """
route:
  receiver: default
receivers:
  - name: default
"""

#: ``BASE`` with one token per role (prometheus: ingest, grafana: read, oncall: admin).
TOKEN_AUTH = BASE + f"""
server:
  auth:
    tokens:
      - {{name: prometheus, role: ingest, token: {TOKENS["ingest"]}}}
      - {{name: grafana, role: read, token: {TOKENS["read"]}}}
      - {{name: oncall, role: admin, token: {TOKENS["admin"]}}}
"""
