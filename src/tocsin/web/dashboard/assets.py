"""The dashboard's static files, served under names carrying a hash of their content.

``dashboard.css`` is served as ``/static/dashboard.<hash>.css`` (``vendor/htmx.js`` as
``/static/vendor-htmx.<hash>.js``) with a year-long,
immutable cache lifetime: a new release changes the name, so a browser never keeps an
old file. The files are read once, when the app is built, from the package's
``static/`` folder (the wheel ships it).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from aiohttp import web

from tocsin.core.routes import HTTPRoute

__all__ = ["PREFIX", "Asset", "Assets", "load_assets"]

PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain", ".md": "text/plain"}


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    hashed: str
    body: bytes
    content_type: str


class Assets:
    """Every static file by its plain name (``vendor/htmx-2.0.4.min.js``) and its hashed one."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._by_name: dict[str, Asset] = {}
        self._by_hashed: dict[str, Asset] = {}
        for name, body in files.items():
            digest = hashlib.sha256(body).hexdigest()[:12]
            stem, dot, ext = name.rpartition(".")
            flat = (stem if dot else name).replace("/", "-")  # one path segment: vendor-htmx-...
            hashed = f"{flat}.{digest}.{ext}" if dot else f"{flat}.{digest}"
            suffix = f".{ext}" if dot else ""
            ctype = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
            asset = Asset(name, hashed, body, ctype)
            self._by_name[name] = asset
            self._by_hashed[hashed] = asset

    def url(self, name: str) -> str:
        """The path a page links to; KeyError for a file the package does not have."""
        return f"{PREFIX}/{self._by_name[name].hashed}"

    def by_hashed(self, hashed: str) -> Asset | None:
        return self._by_hashed.get(hashed)

    async def serve(self, request: web.Request) -> web.Response:
        asset = self.by_hashed(request.match_info["name"])
        if asset is None:
            return web.Response(status=404, text="no such file", content_type="text/plain")
        return web.Response(body=asset.body, content_type=asset.content_type, headers={
            "Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"})

    def route(self) -> HTTPRoute:
        # open: the files are the package's own, the same for everyone, and hold nothing secret.
        return HTTPRoute("GET", f"{PREFIX}/{{name}}", self.serve, access="open",
                         summary="The dashboard's static files")


def load_assets() -> Assets:
    """Every file under the package's ``static/`` folder."""
    files: dict[str, bytes] = {}
    root = resources.files("tocsin.web.dashboard") / "static"

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.is_file():
                files[f"{prefix}{entry.name}"] = entry.read_bytes()

    walk(root, "")
    return Assets(files)
