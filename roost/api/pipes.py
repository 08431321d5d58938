"""Pipes API and endpoints (reference §6)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from roost.api.params import FORM, MULTIPART, content_type, flag
from roost.api.responses import empty, json_response
from roost.api.routing import ANY_TOKEN, ANY_TOKEN_OR_JWT, PIPES_CREATE, PIPES_DROP, PIPES_READ, Requirement, route
from roost.auth.principal import Principal
from roost.errors import DOC_PIPES, BadRequest
from roost.tokens import PIPE_SCOPES

PIPE_INFO = Requirement(
    "PIPES:CREATE or PIPES:READ:<name>",
    lambda p, r: p.may_create_pipes() or p.pipe_read(r.path_params.get("name", "")) is not None,
)
ENDPOINT_RESERVED = {"q", "token", "format", "cli_version", "from", "__tb__semver", "release_replacements"}


def _rt(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.rt


def _base(request: Request) -> str:
    rt = _rt(request)
    return rt.settings.public_url or str(request.base_url).rstrip("/")


def _visible(p: Principal, name: str) -> bool:
    return p.may_create_pipes() or p.pipe_read(name) is not None or p.may_drop_pipe(name)


@route("/v0/pipes", ["GET"], requires=ANY_TOKEN)
async def list_pipes(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    items = [rt.pipes.to_json(p, _base(request)) for p in rt.catalog.list_pipes() if _visible(principal, p["name"])]
    attrs = request.query_params.get("attrs")
    if attrs:
        keep = {a.strip() for a in attrs.split(",") if a.strip()} | {"name", "nodes"}
        items = [{k: v for k, v in it.items() if k in keep} for it in items]
    node_attrs = request.query_params.get("node_attrs")
    if node_attrs:
        nkeep = {a.strip() for a in node_attrs.split(",") if a.strip()}
        for it in items:
            it["nodes"] = [{k: v for k, v in n.items() if k in nkeep} for n in it.get("nodes", [])]
    return json_response({"pipes": items})


async def _body(request: Request) -> tuple[dict[str, Any], dict[str, str]]:
    """(pipe definition, query params) for POST /v0/pipes (JSON body or form name+sql)."""
    q = {k: v for k, v in request.query_params.items() if k != "token"}
    ct = content_type(request)
    if ct in (FORM, MULTIPART):
        form = await request.form()
        f = {k: str(v) for k, v in form.items() if k != "token"}
        q = {**q, **{k: v for k, v in f.items() if k not in ("sql", "name", "description")}}
        name = f.get("name") or q.get("name")
        sql = f.get("sql") or q.get("sql")
        nodes = [{"name": f"{name}_0", "sql": sql}] if sql else []
        return {"name": name, "description": f.get("description", ""), "nodes": nodes}, q
    raw = await request.body()
    if not raw.strip():
        name = q.get("name")
        sql = q.get("sql")
        return {"name": name, "description": q.get("description", ""),
                "nodes": [{"name": f"{name}_0", "sql": sql}] if sql else []}, q
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"Invalid JSON body: {e}", documentation=DOC_PIPES) from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object with name and nodes", documentation=DOC_PIPES)
    return data, q


@route("/v0/pipes", ["POST"], requires=PIPES_CREATE)
async def create_pipe(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    body, q = await _body(request)
    if "cache_ttl" in q and "cache_ttl" not in body:
        body["cache_ttl"] = q["cache_ttl"]
    pipe = await rt.engine.run(lambda: rt.pipes.create(body, force=flag(q.get("force")),
                                                       populate=flag(q.get("populate"))))
    out = rt.pipes.to_json(pipe, _base(request))
    job = pipe.get("_job")
    if job is not None:
        from roost.api.datasources import job_envelope

        out["job"] = job_envelope(request, job)
        out["created_datasource"] = False
    return json_response(out)


# Order matters: the fixed paths and the datafile form come before the endpoint pattern.
@route("/v0/pipes/openapi.json", ["GET"], requires=ANY_TOKEN_OR_JWT)
async def openapi(request: Request, principal: Principal) -> Response:
    from roost.api.openapi import endpoints_openapi

    rt = _rt(request)
    return json_response(endpoints_openapi(rt, principal, _base(request)))


@route("/v0/pipes/{name}.pipe", ["GET"], requires=PIPES_CREATE, name="pipe_datafile")
async def pipe_datafile(request: Request, principal: Principal) -> Response:
    from roost.api.datafile_text import pipe_text

    pipe = _rt(request).pipes.get(request.path_params["name"])
    # exactly "text/plain" (no charset): tb pull takes the body as text only on that exact value
    return Response(pipe_text(pipe), headers={"Content-Type": "text/plain"})


@route("/v1/pipes/{name}.pipe", ["GET"], requires=PIPES_CREATE, name="pipe_datafile_v1")
async def pipe_datafile_v1(request: Request, principal: Principal) -> Response:
    return await pipe_datafile(request, principal)


@route("/v0/pipes/{name}.{fmt}", ["GET", "POST"], requires=PIPES_READ, name="endpoint")
async def endpoint(request: Request, principal: Principal) -> Response:
    from roost.api.endpoint import call_endpoint

    return await call_endpoint(request, principal)


@route("/v0/pipes/{name}", ["GET"], requires=PIPE_INFO, name="get_pipe")
async def get_pipe(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    pipe = rt.pipes.get(request.path_params["name"])
    out = rt.pipes.to_json(pipe, _base(request))
    return json_response(out)


@route("/v0/pipes/{name}", ["DELETE"], requires=PIPES_DROP, name="delete_pipe")
async def delete_pipe(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    pipe = rt.pipes.get(request.path_params["name"])
    await rt.engine.run(rt.pipes.delete, pipe)
    await rt.engine.run(rt.tokens.drop_resource_scopes, PIPE_SCOPES, pipe, principal.name)
    return empty(204)


PIPE_EDIT = Requirement("PIPES:CREATE", lambda p, r: p.may_create_pipes())


async def _node_params(request: Request) -> dict[str, Any]:
    """Node fields from the query string and a form, a JSON object, or a raw SQL body."""
    params: dict[str, Any] = {k: v for k, v in request.query_params.items() if k != "token"}
    ct = content_type(request)
    if ct in (FORM, MULTIPART):
        form = await request.form()
        params.update({k: str(v) for k, v in form.items() if k != "token"})
    elif ct == "application/json":
        try:
            data = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError as e:
            raise BadRequest(f"Invalid JSON body: {e}", documentation=DOC_PIPES) from None
        if not isinstance(data, dict):
            raise BadRequest("The body must be a JSON object", documentation=DOC_PIPES)
        params.update({k: v for k, v in data.items() if k != "token"})
    else:
        raw = (await request.body()).decode("utf-8", "replace")
        if raw.strip():
            params["sql"] = raw
    return params


@route("/v0/pipes/{name}/nodes", ["POST"], requires=PIPE_EDIT, name="add_node")
async def add_node(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    pipe = rt.pipes.get(request.path_params["name"])
    params = await _node_params(request)
    node = await rt.engine.run(rt.pipes.add_node, pipe, {"name": params.get("name"), "sql": params.get("sql", ""),
                                                         "description": params.get("description"),
                                                         "type": params.get("type")})
    return json_response(_node_json(node))


def _node_json(n: dict[str, Any]) -> dict[str, Any]:
    return {"id": n["id"], "name": n["name"], "sql": n["sql"], "description": n.get("description"),
            "node_type": n["type"], "materialized": n.get("datasource") if n["type"] == "materialized" else None,
            "dependencies": n.get("dependencies", []), "params": n.get("params", []),
            "created_at": n.get("created_at"), "updated_at": n.get("updated_at")}


@route("/v0/pipes/{name}/nodes/{node}", ["PUT"], requires=PIPE_EDIT, name="update_node")
async def update_node(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    pipe = rt.pipes.get(request.path_params["name"])
    params = await _node_params(request)
    node = await rt.engine.run(rt.pipes.update_node, pipe, request.path_params["node"], params)
    return json_response(_node_json(node))


@route("/v0/pipes/{name}/nodes/{node}", ["DELETE"], requires=PIPE_EDIT, name="delete_node")
async def delete_node(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    pipe = rt.pipes.get(request.path_params["name"])
    await rt.engine.run(rt.pipes.delete_node, pipe, request.path_params["node"])
    return empty(204)


@route("/v0/pipes/{name}/nodes/{node}/endpoint", ["POST"], requires=PIPE_EDIT, name="publish")
async def publish(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    pipe = rt.pipes.get(request.path_params["name"])
    new = await rt.engine.run(rt.pipes.publish, pipe, request.path_params["node"])
    return json_response(rt.pipes.to_json(new, _base(request)))


@route("/v0/pipes/{name}/nodes/{node}/endpoint", ["DELETE"], requires=PIPE_EDIT, name="unpublish")
async def unpublish(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    pipe = rt.pipes.get(request.path_params["name"])
    new = await rt.engine.run(rt.pipes.unpublish, pipe)
    return json_response(rt.pipes.to_json(new, _base(request)))


@route("/v0/pipes/{name}/stats", ["GET"], requires=PIPE_INFO, name="pipe_stats")
async def pipe_stats(request: Request, principal: Principal) -> Response:
    from roost.api.endpoint import pipe_stats_summary

    rt = _rt(request)
    pipe = rt.pipes.get(request.path_params["name"])
    return json_response(await rt.engine.run(pipe_stats_summary, rt, pipe))


