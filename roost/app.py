"""Builds the ASGI app: routes, the auth/enforcement wrapper, CORS, request ids and error mapping."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roost.api import load_routes, routing
from roost.api.responses import JSON, error_response
from roost.api.routing import Requirement
from roost.auth.principal import Principal
from roost.auth.ratelimit import RateLimiter
from roost.auth.values import is_jwt
from roost.config import Settings
from roost.engine.base import EngineError
from roost.errors import DOC_AUTH, BadRequest, Forbidden, MethodNotAllowed, NotFound, RoostError
from roost.runtime import Runtime

log = logging.getLogger("roost.app")

CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, X-Requested-With, X-Tb-Warning"),
    (b"access-control-expose-headers", b"X-Tb-Warning, X-Request-ID"),
    (b"access-control-allow-methods", b"GET, POST, PUT, DELETE, OPTIONS"),
    (b"access-control-max-age", b"86400"),
]


class Edge:
    """Pure ASGI middleware: request id, CORS on every response, OPTIONS -> 204."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        extra = [*CORS_HEADERS, (b"x-request-id", rid.encode()), (b"x-frame-options", b"sameorigin")]
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": extra})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _token_value(request: Request) -> str | None:
    t = request.query_params.get("token")
    if t:
        return t
    auth = request.headers.get("authorization")
    if auth:
        parts = auth.split(" ")
        if len(parts) == 2 and parts[0] == "Bearer" and parts[1]:
            return parts[1]
    return None


def make_authenticate(rt: Runtime, limiter: RateLimiter) -> Any:
    async def authenticate(request: Request, req: Requirement) -> Principal:
        value = _token_value(request)
        if not value:
            raise Forbidden("invalid authentication token", documentation=DOC_AUTH)
        if is_jwt(value) and not req.jwt:
            # verify first so that a garbage value gets the generic message
            rt.verifier.authenticate(value)
            raise Forbidden("invalid authentication token. This endpoint does not support JWT tokens",
                            documentation=DOC_AUTH)
        principal = rt.verifier.authenticate(value)
        request.state.principal = principal
        if principal.kind == "static" and principal.rps_limit:
            limiter.check(f"token:{principal.token_id}", principal.rps_limit).raise_if_limited()
        return principal

    return authenticate


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    load_routes()

    state: dict[str, Any] = {}
    limiter = RateLimiter()

    async def authenticate(request: Request, req: Requirement) -> Principal:
        fn = state["authenticate"]
        p: Principal = await fn(request, req)
        return p

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        rt = runtime or Runtime(settings)
        app.state.rt = rt
        app.state.limiter = limiter
        state["authenticate"] = make_authenticate(rt, limiter)
        rt.start()
        if settings.demo:
            from roost.demo import setup_demo

            setup_demo(rt)
        try:
            yield
        finally:
            if runtime is None:
                rt.close()

    async def roost_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RoostError)
        return error_response(exc, getattr(request.state, "request_id", None))

    async def engine_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EngineError)
        rt = request.app.state.rt
        query = getattr(rt, "query", None)
        msg = query.readable(exc.message) if query is not None else exc.message
        log.info("engine error on %s %s: %s", request.method, request.url.path, exc.name)
        return error_response(BadRequest(f"[Error] {msg} ({exc.name or 'engine error'})"),
                              getattr(request.state, "request_id", None))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error_response(NotFound(f"Not found: {request.url.path}"))
        if exc.status_code == 405:
            return error_response(MethodNotAllowed(f"Method {request.method} not allowed on {request.url.path}"))
        return JSON({"error": str(exc.detail), "documentation": "https://docs.tinybird.co"},
                    status_code=exc.status_code)

    async def internal_error(request: Request, exc: Exception) -> Response:
        rid = getattr(request.state, "request_id", "")
        log.exception("internal error in %s %s (request %s)", request.method, request.url.path, rid)
        return JSON({"error": f"Internal server error (request id {rid})", "documentation": "https://docs.tinybird.co"},
                    status_code=500)

    app = Starlette(
        routes=routing.build_routes(authenticate),
        lifespan=lifespan,
        exception_handlers={RoostError: roost_error, EngineError: engine_error, HTTPException: http_error,
                            Exception: internal_error},
    )
    return Edge(app)  # type: ignore[return-value]
