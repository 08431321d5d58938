"""The one enforcement point: every route declares what it requires, here.

``route(path, methods, requires=...)`` registers a handler together with its ``Requirement``.
The wrapper authenticates the caller, checks the requirement, applies a static token's rate limit,
and only then calls the handler with the ``Principal``. ``tests/api/test_route_matrix.py`` walks
every registered route with every kind of caller; a route without a requirement cannot be built.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roost.auth.principal import Principal
from roost.errors import DOC_TOKENS, Forbidden

Handler = Callable[[Request, Principal], Awaitable[Response]]
PublicHandler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Requirement:
    """What a caller must hold. ``check`` gets the Principal and the request (for resource names)."""

    name: str
    check: Callable[[Principal, Request], bool] | None
    jwt: bool = False  # are JWTs accepted at all on this route

    @property
    def public(self) -> bool:
        return self.check is None


def _param(request: Request, key: str) -> str:
    return request.path_params.get(key) or request.query_params.get(key) or ""


def _ds_name(request: Request) -> str:
    name = request.path_params.get("name") or request.query_params.get("name") or ""
    return name.removesuffix(".datasource")


def _is_quarantine_of(name: str) -> str:
    return name[: -len("_quarantine")] if name.endswith("_quarantine") else name


PUBLIC = Requirement("none", None, jwt=True)
ANY_TOKEN = Requirement("any valid token", lambda p, r: True, jwt=False)
ANY_TOKEN_OR_JWT = Requirement("any valid token", lambda p, r: True, jwt=True)
ADMIN = Requirement("ADMIN", lambda p, r: p.is_admin)
TOKENS = Requirement("TOKENS", lambda p, r: p.may_manage_tokens())
DS_CREATE = Requirement("DATASOURCES:CREATE", lambda p, r: p.may_create_datasources())
DS_APPEND = Requirement(
    "DATASOURCES:APPEND:<name>", lambda p, r: p.may_append(_is_quarantine_of(_ds_name(r)))
)
DS_READ = Requirement(
    "DATASOURCES:READ:<name>",
    lambda p, r: p.may_create_datasources() or p.datasource_read(_is_quarantine_of(_ds_name(r))) is not None,
)
DS_DROP = Requirement("DATASOURCES:DROP:<name>", lambda p, r: p.may_drop_datasource(_ds_name(r)))
PIPES_CREATE = Requirement("PIPES:CREATE", lambda p, r: p.may_create_pipes())
PIPES_DROP = Requirement("PIPES:DROP:<name>", lambda p, r: p.may_drop_pipe(_param(r, "name")))
PIPES_READ = Requirement(
    "PIPES:READ:<name>", lambda p, r: p.may_create_pipes() or p.pipe_read(_param(r, "name")) is not None,
    jwt=True,
)


def _datasources_post(p: Principal, r: Request) -> bool:
    mode = (r.query_params.get("mode") or "create").lower()
    if mode == "append":
        return p.may_append(_ds_name(r))
    return p.may_create_datasources()


DS_POST = Requirement("DATASOURCES:CREATE or DATASOURCES:APPEND:<name>", _datasources_post)


def scope_error(req: Requirement) -> Forbidden:
    return Forbidden(f"token needs scope {req.name}", documentation=DOC_TOKENS)


def route(path: str, methods: list[str], *, requires: Requirement, name: str | None = None) -> Callable[[Any], Any]:
    """Declare a route and its requirement. Collected into ``ROUTES`` in definition order."""

    def deco(fn: Any) -> Any:
        ROUTES.append(RouteSpec(path, methods, fn, requires, name or fn.__name__))
        return fn

    return deco


@dataclass(frozen=True)
class RouteSpec:
    path: str
    methods: list[str]
    handler: Any
    requires: Requirement
    name: str


ROUTES: list[RouteSpec] = []


def build_routes(authenticate: Callable[[Request, Requirement], Awaitable[Principal | None]]) -> list[Route]:
    """Wrap every declared handler with authentication and its requirement check."""
    out = []
    for spec in ROUTES:
        out.append(Route(spec.path, _wrap(spec, authenticate), methods=spec.methods, name=spec.name))
    return out


def _wrap(
    spec: RouteSpec, authenticate: Callable[[Request, Requirement], Awaitable[Principal | None]]
) -> Callable[[Request], Awaitable[Response]]:
    req = spec.requires
    handler = spec.handler

    if req.public:

        async def public(request: Request) -> Response:
            return await handler(request)

        public.__roost_requirement__ = req  # type: ignore[attr-defined]
        return public

    async def endpoint(request: Request) -> Response:
        principal = await authenticate(request, req)
        assert principal is not None
        assert req.check is not None
        if not req.check(principal, request):
            raise scope_error(req)
        return await handler(request, principal)

    endpoint.__roost_requirement__ = req  # type: ignore[attr-defined]
    return endpoint
