"""Query API (reference §7): ``/v0/sql`` and ``/v0/sql_tables``."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from roost.api.params import FORM, MULTIPART, content_type
from roost.api.responses import json_response
from roost.api.routing import ANY_TOKEN, ANY_TOKEN_OR_JWT, route
from roost.auth.principal import Principal
from roost.errors import DOC_QUERY, BadRequest, Forbidden
from roost.sql.compiler import tables_of

QUOTE_PARAMS = ("output_format_json_quote_64bit_integers", "output_format_json_quote_denormals",
                "output_format_parquet_string_as_string")
RESERVED = {"q", "token", "pipeline", "format", *QUOTE_PARAMS, "from", "release_replacements", "cli_version",
            "max_threads", "explain", "debug", "template_parameters", "playground", "finalize_aggregations"}


async def read_sql_request(request: Request) -> tuple[str, dict[str, Any]]:
    """(q, other parameters) from GET query, POST form, raw text body or JSON body."""
    params: dict[str, Any] = {}
    for k, v in request.query_params.multi_items():
        params.setdefault(k, v)
    q = params.get("q")
    if request.method == "POST":
        ct = content_type(request)
        if ct in (FORM, MULTIPART):
            form = await request.form()
            for k, fv in form.multi_items():
                params.setdefault(k, str(fv))
            q = params.get("q", q)
        else:
            raw = await request.body()
            text = raw.decode("utf-8", "replace")
            if ct == "application/json" or (text.lstrip().startswith("{") and '"q"' in text):
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError as e:
                    raise BadRequest(f"Invalid JSON body: {e}", documentation=DOC_QUERY) from None
                if isinstance(data, dict):
                    for k, v in data.items():
                        params[k] = v
                    q = data.get("q", q)
            elif text.strip():
                q = text
        if not q:
            raise BadRequest("The request body should contain a query", documentation=DOC_QUERY)
    if not q or not str(q).strip():
        raise BadRequest("missing q parameter. example q=select%201", documentation=DOC_QUERY)
    return str(q), params


def _overrides(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in QUOTE_PARAMS:
        if k in params:
            v = str(params[k])
            if v not in ("0", "1"):
                raise BadRequest(f"{k} must be 0 or 1", documentation=DOC_QUERY)
            out[k] = int(v)
    if "max_threads" in params:
        try:
            n = int(str(params["max_threads"]))
        except ValueError:
            n = 0
        if n < 1:
            raise BadRequest("max_threads must be at least 1", documentation=DOC_QUERY)
        out["max_threads"] = min(n, 16)
    return out


def _template_params(params: dict[str, Any]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    tp = params.get("template_parameters")
    if tp:
        try:
            extra = orjson.loads(tp) if isinstance(tp, str) else tp
        except orjson.JSONDecodeError:
            raise BadRequest("template_parameters must be a well-formed JSON", documentation=DOC_QUERY) from None
        if not isinstance(extra, dict):
            raise BadRequest("template_parameters must be a well-formed JSON", documentation=DOC_QUERY)
        params = {**params, **extra}
    for k, v in params.items():
        if k in RESERVED:
            continue
        if isinstance(v, list):
            out[k] = [x if isinstance(x, str) else orjson.dumps(x).decode() for x in v]
        else:
            out[k] = v if isinstance(v, str) else orjson.dumps(v).decode()
    return out


@route("/v0/sql", ["GET", "POST"], requires=ANY_TOKEN_OR_JWT)
async def sql(request: Request, principal: Principal) -> Response:
    rt = request.app.state.rt
    q, params = await read_sql_request(request)
    from roost.sql.template import is_template, render

    if is_template(q):
        q = render(q, _template_params(params))
    extra = None
    pipeline = params.get("pipeline")
    if pipeline:
        pipes = getattr(rt, "pipes", None)
        rel = pipes.relation(str(pipeline), principal) if pipes else None
        if rel is None:
            raise Forbidden(f"Resource '{pipeline}' not found", documentation=DOC_QUERY)
        extra = {"_": rel}
    compiled = rt.query.compile(q, principal, extra=extra)
    fmt = compiled.format or "JSON"
    executed = await rt.engine.run(rt.query.execute, compiled, fmt, principal, _overrides(params))
    return Response(executed.result.data, media_type=executed.content_type)


@route("/v0/sql_tables", ["POST", "GET"], requires=ANY_TOKEN)
async def sql_tables(request: Request, principal: Principal) -> Response:
    q, _ = await read_sql_request(request)
    from roost.sql.template import is_template, render

    if is_template(q):
        q = render(q, {}, test_mode=True)
    return json_response({"tables": [list(t) for t in tables_of(q)]})
