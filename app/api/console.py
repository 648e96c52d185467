"""``GET /console``: the admin console, a static page packaged with the gateway (no CDN, no build).

The files live in ``app/console/`` (package data). Only names listed there are served, with a
Content-Security-Policy that lets the page talk to this gateway and nothing else. The page itself
carries no data and no secret; every data call it makes sends the key in ``Authorization``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from litestar import Response, get
from litestar.params import FromPath

from app.errors import NotFound

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


@cache
def assets() -> dict[str, bytes]:
    """Every console file by name, read once from the installed package."""
    folder = resources.files("app") / "console"
    return {
        item.name: item.read_bytes()
        for item in folder.iterdir()
        if item.is_file() and "." + item.name.rsplit(".", 1)[-1] in CONTENT_TYPES
    }


def _serve(name: str) -> Response[bytes]:
    body = assets().get(name)
    if body is None:
        raise NotFound(f"No console file '{name}'.", code="not_found")
    kind = CONTENT_TYPES["." + name.rsplit(".", 1)[-1]]
    return Response(body, media_type=kind, headers=HEADERS)


@get("/console", include_in_schema=False)
async def console_page() -> Response[bytes]:
    return _serve("index.html")


@get("/console/{name:str}", include_in_schema=False)
async def console_asset(name: FromPath[str]) -> Response[bytes]:
    return _serve(name)


ROUTES = [console_page, console_asset]
