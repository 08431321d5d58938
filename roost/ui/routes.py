"""The web UI: a single-page app served from ``roost/ui/static`` (plain HTML, CSS and JS modules).

The pages are public; the app signs in in the browser with a pasted token, keeps it in
``sessionStorage`` and calls the API with ``Authorization: Bearer``. No token is ever part of a URL.

* ``GET /`` and ``GET /ui`` redirect to ``/ui/``.
* ``GET /ui/{path}`` serves a file of ``static/``; any path without a file extension that is not a
  file is a client-side route and gets ``index.html``; a missing asset is 404.

Every UI response carries a restrictive Content-Security-Policy (same origin only, no inline
script or style), ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from roost.api.routing import PUBLIC, route
from roost.errors import NotFound

STATIC = (Path(__file__).parent / "static").resolve()
INDEX = STATIC / "index.html"

CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), clipboard-write=(self)",
}

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}


def _headers(cache: str) -> dict[str, str]:
    return {**SECURITY_HEADERS, "Cache-Control": cache}


def resolve_static(path: str) -> Path | None:
    """The file of ``static/`` that ``path`` names, or None (never a file outside ``static/``)."""
    parts = PurePosixPath(path).parts
    if any(p in ("..", ".") or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        return None
    candidate = (STATIC / path).resolve()
    if not candidate.is_relative_to(STATIC) or not candidate.is_file():
        return None
    return candidate


def _index() -> Response:
    return FileResponse(INDEX, media_type=CONTENT_TYPES[".html"], headers=_headers("no-store"))


@route("/", ["GET"], requires=PUBLIC, name="ui_root")
async def root(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=302, headers=SECURITY_HEADERS)


@route("/ui", ["GET"], requires=PUBLIC, name="ui_bare")
async def ui_bare(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=302, headers=SECURITY_HEADERS)


@route("/ui/{path:path}", ["GET"], requires=PUBLIC, name="ui")
async def ui(request: Request) -> Response:
    path: str = request.path_params.get("path") or ""
    if path in ("", "index.html"):
        return _index()
    found = resolve_static(path)
    if found is not None:
        media = CONTENT_TYPES.get(found.suffix.lower(), "application/octet-stream")
        return FileResponse(found, media_type=media, headers=_headers("no-cache"))
    last = PurePosixPath(path).name
    if "." in last:  # a missing asset, not a page of the app
        raise NotFound(f"Not found: /ui/{path}")
    return _index()
