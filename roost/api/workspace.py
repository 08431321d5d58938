"""Workspace, regions and user-workspaces (what clients call first)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from roost import __version__
from roost.api.responses import json_response
from roost.api.routing import ANY_TOKEN, PUBLIC, route
from roost.auth.principal import Principal


def _rt(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.rt


@route("/v0/workspace", ["GET"], requires=ANY_TOKEN)
async def workspace(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    ws = rt.workspace
    return json_response(
        {
            "id": ws["id"],
            "name": ws["name"],
            "is_branch": False,
            "release": None,
            "main": None,
            "created_at": ws["created_at"],
            "user_email": None,
            "user_id": None,
            "scope": "admin" if principal.is_admin else "user",
            "token_name": principal.name,
            "roost_version": __version__,
        }
    )


@route("/v1/workspace", ["GET"], requires=ANY_TOKEN, name="workspace_v1")
async def workspace_v1(request: Request, principal: Principal) -> Response:
    return await workspace(request, principal)


@route("/v0/user/workspaces/", ["GET"], requires=ANY_TOKEN)
async def user_workspaces(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    ws = rt.workspace
    item = {"id": ws["id"], "name": ws["name"], "role": "admin" if principal.is_admin else "viewer",
            "plan": "roost", "is_branch": False, "main": None}
    return json_response({"id": ws["id"], "workspaces": [item]})


@route("/v0/regions", ["GET"], requires=PUBLIC)
async def regions(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return json_response(
        {"regions": [{"name": "roost", "api_host": base, "host": base, "provider": "roost", "default": True}]}
    )


@route("/healthz", ["GET"], requires=PUBLIC)
async def healthz(request: Request) -> Response:
    return json_response({"status": "ok", "version": __version__})
