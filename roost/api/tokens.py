"""Tokens API (reference §1.5, §2.5) and the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from roost.api.params import FORM, MULTIPART, content_type
from roost.api.responses import empty, json_response
from roost.api.routing import ADMIN, TOKENS, route
from roost.auth.principal import Principal
from roost.errors import DOC_TOKENS, BadRequest, MethodNotAllowed, NotFound


def _svc(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.rt.tokens


async def _run(request: Request, fn: Callable[[], Any]) -> Any:
    """Token changes read the catalog (and may run a query): off the event loop."""
    return await request.app.state.rt.engine.run(fn)


async def _params(request: Request) -> tuple[dict[str, str], list[str] | None, dict | None]:
    """(single params, scope list or None when absent, JSON body for a JWT or None)."""
    single: dict[str, str] = {}
    scopes: list[str] = []
    seen_scope = False
    for k, v in request.query_params.multi_items():
        if k == "scope":
            seen_scope = True
            scopes.append(v)
        elif k != "token":
            single.setdefault(k, v)
    ct = content_type(request)
    body_json = None
    if ct in (FORM, MULTIPART):
        form = await request.form()
        for k, fv in form.multi_items():
            if k == "scope":
                seen_scope = True
                scopes.append(str(fv))
            elif k != "token":
                single[k] = str(fv)
    else:
        raw = await request.body()
        if raw.strip():
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                if ct == "application/json":
                    raise BadRequest(f"Invalid body : {e}", documentation=DOC_TOKENS) from None
                data = None
            if isinstance(data, dict):
                body_json = data
            elif ct == "application/json":
                raise BadRequest("Invalid body : expected a JSON object", documentation=DOC_TOKENS)
            elif data is None and ct in ("", "text/plain"):
                # tb's alter_tokens moves `scope=..&scope=..` into a body with no Content-Type when the URL
                # would pass 4096 characters: read it as the form it is
                for k, fv in parse_qsl(raw.decode("utf-8", "replace").strip(), keep_blank_values=True):
                    if k == "scope":
                        seen_scope = True
                        scopes.append(fv)
                    elif k != "token":
                        single[k] = fv
    # a comma inside one scope value is NOT split (filters may hold commas)
    return single, (scopes if seen_scope else None), body_json


@route("/v0/tokens", ["GET"], requires=TOKENS)
async def list_tokens(request: Request, principal: Principal) -> Response:
    svc = _svc(request)
    recs = request.app.state.rt.catalog.list_tokens()
    return json_response({"tokens": [svc.to_json(r, principal) for r in recs]})


@route("/v0/tokens/", ["GET"], requires=TOKENS, name="list_tokens_slash")
async def list_tokens_slash(request: Request, principal: Principal) -> Response:
    return await list_tokens(request, principal)


@route("/v0/tokens", ["POST"], requires=TOKENS)
async def create_token(request: Request, principal: Principal) -> Response:
    svc = _svc(request)
    params, scopes, body = await _params(request)
    if body is not None and ("scopes" in body or "expiration_time" in params):
        jwt_body = body
        return json_response(await _run(request, lambda: svc.create_jwt(principal, jwt_body, params.get("name"),
                                                                        params.get("expiration_time"))))
    rec = await _run(request, lambda: svc.create(
        principal,
        name=params.get("name", ""),
        description=params.get("description", ""),
        scopes=scopes or [],
        expiration_time=params.get("expiration_time"),
        rps=params.get("rps"),
        origin=params.get("origin", "C"),
    ))
    return json_response(svc.to_json(rec, principal))


@route("/v0/tokens/", ["POST"], requires=TOKENS, name="create_token_slash")
async def create_token_slash(request: Request, principal: Principal) -> Response:
    return await create_token(request, principal)


@route("/v0/tokens/{name}", ["GET"], requires=TOKENS)
async def get_token(request: Request, principal: Principal) -> Response:
    svc = _svc(request)
    name = request.path_params["name"]
    if name.endswith(".token"):
        rec = svc.get(name.removesuffix(".token"))
        return Response(_token_datafile(rec), headers={"Content-Type": "text/plain"})  # as tb expects
    return json_response(svc.to_json(svc.get(name), principal))


@route("/v0/tokens/{name}", ["PUT"], requires=TOKENS, name="update_token")
async def update_token(request: Request, principal: Principal) -> Response:
    svc = _svc(request)
    params, scopes, _ = await _params(request)
    rec = await _run(request, lambda: svc.update(
        principal,
        request.path_params["name"],
        name=params.get("name"),
        description=params.get("description"),
        scopes=scopes,
        expiration_time=params.get("expiration_time"),
        rps=params.get("rps"),
    ))
    return json_response(svc.to_json(rec, principal))


@route("/v0/tokens/{name}", ["DELETE"], requires=TOKENS, name="delete_token")
async def delete_token(request: Request, principal: Principal) -> Response:
    svc = _svc(request)
    await _run(request, lambda: svc.delete(principal, request.path_params["name"]))
    return empty(204)


@route("/v0/tokens/{name}/refresh", ["POST"], requires=TOKENS)
async def refresh_token(request: Request, principal: Principal) -> Response:
    svc = _svc(request)
    rec = await _run(request, lambda: svc.refresh(principal, request.path_params["name"]))
    return json_response(svc.to_json(rec, principal))


@route("/v0/tokens/{name}/refresh", ["GET"], requires=TOKENS, name="refresh_token_get")
async def refresh_token_get(request: Request, principal: Principal) -> Response:
    raise MethodNotAllowed("refresh must be done with POST", documentation=DOC_TOKENS)


@route("/v0/tokens/{name}/audit", ["GET"], requires=TOKENS)
async def token_audit(request: Request, principal: Principal) -> Response:
    rt = request.app.state.rt
    name = request.path_params["name"]
    rec = rt.catalog.get_token(name)
    entries = rt.catalog.list_audit(rec["id"] if rec else name)  # a deleted token keeps its trail
    if rec is None and not entries:
        raise NotFound("Token not found", documentation=DOC_TOKENS)
    return json_response({"audit": entries})


@route("/v0/audit", ["GET"], requires=ADMIN)
async def audit(request: Request, principal: Principal) -> Response:
    rt = request.app.state.rt
    return json_response({"audit": rt.catalog.list_audit(request.query_params.get("name"))})


def _token_datafile(rec: dict) -> str:  # type: ignore[type-arg]
    lines = []
    if rec.get("description"):
        lines += ["DESCRIPTION >", "    " + rec["description"], ""]
    for s in rec["scopes"]:
        lines.append(f"SCOPE {s['type']}")
        if s.get("resource"):
            lines.append(f"RESOURCE {s['resource']}")
        if s.get("filter"):
            lines.append(f"FILTER {s['filter']}")
        lines.append("")
    return "\n".join(lines)
