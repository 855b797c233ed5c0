"""HTTP API: Alertmanager's API v2 and tocsin's own endpoints."""

from __future__ import annotations

from tocsin.core.routes import json_body, json_error, json_list_response, json_response

__all__ = ["json_body", "json_error", "json_list_response", "json_response"]
