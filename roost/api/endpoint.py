"""Calling a pipe endpoint: ``GET|POST /v0/pipes/<name>.json|.csv|.ndjson|.parquet``."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from roost.api.params import multi_params
from roost.auth.principal import Principal
from roost.errors import DOC_PIPES, BadRequest, NotFound, RoostError
from roost.pipes import FORMATS
from roost.query import CONTENT_TYPES, Executed

RESERVED = {"q", "token", "format", "cli_version", "from", "__tb__semver", "release_replacements", "pipeline",
            "output_format_json_quote_64bit_integers", "output_format_json_quote_denormals",
            "output_format_parquet_string_as_string"}
MAX_PARAM_BYTES = 64 * 1024


def _clean_url(request: Request) -> str:
    qs = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "token"]
    return f"{request.url.path}?{urlencode(qs)}" if qs else request.url.path


async def call_endpoint(request: Request, principal: Principal) -> Response:
    rt = request.app.state.rt
    name = request.path_params["name"]
    fmt_key = request.path_params["fmt"].lower()
    if fmt_key not in FORMATS:
        raise NotFound(f"Unknown format '.{fmt_key}': use .json, .csv, .ndjson or .parquet", documentation=DOC_PIPES)
    fmt = FORMATS[fmt_key]
    t0 = time.monotonic()
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    pipe = rt.catalog.get_pipe(name)
    status = 200
    error: str | None = None
    executed: Executed | None = None
    params: dict[str, Any] = {}
    headers: dict[str, str] = {}
    try:
        if pipe is None:
            raise NotFound(f'The pipe "{name}" does not exist', documentation=DOC_PIPES)
        if principal.kind == "jwt" and principal.rps_limit:
            res = request.app.state.limiter.check(f"jwt:{pipe['id']}:{principal.name}", principal.rps_limit)
            headers.update(res.headers)
            res.raise_if_limited()
        raw = await multi_params(request)
        q = raw.get("q", [None])[-1]
        for k, vals in raw.items():
            if k in RESERVED:
                continue
            if sum(len(v) for v in vals) > MAX_PARAM_BYTES:
                raise BadRequest(f"[Error] The value of parameter '{k}' is too large", documentation=DOC_PIPES)
            params[k] = vals[0] if len(vals) == 1 else vals
        params = rt.pipes.call_params(pipe, principal, params)
        compiled = rt.pipes.compile_call(pipe, principal, params, q)
        out_fmt = fmt
        if q and compiled.format:
            out_fmt = compiled.format
        overrides = {}
        for k in ("output_format_json_quote_64bit_integers", "output_format_json_quote_denormals"):
            v = raw.get(k, [None])[-1]
            if v is not None:
                if v not in ("0", "1"):
                    raise BadRequest(f"{k} must be 0 or 1", documentation=DOC_PIPES)
                overrides[k] = int(v)
        ttl = pipe.get("cache_ttl")
        cache_key = (compiled.sql, out_fmt, tuple(sorted(overrides.items())),
                     tuple(sorted(compiled.table_filters.items())))
        if ttl:
            hit = rt.pipes.result_cache.get(cache_key)
            if hit is not None and hit[0] > time.monotonic():
                executed = hit[1]
        if executed is None:
            executed = await rt.engine.run(rt.query.execute, compiled, out_fmt, principal, overrides)
            if ttl:
                rt.pipes.result_cache.put(cache_key, (time.monotonic() + ttl, executed))
        headers["X-Request-ID"] = str(getattr(request.state, "request_id", ""))
        return Response(executed.result.data, media_type=CONTENT_TYPES.get(out_fmt, "application/octet-stream"),
                        headers=headers)
    except RoostError as e:
        status = e.status
        error = e.message
        if headers:
            e.headers = {**headers, **e.headers}
        raise
    except Exception as e:
        status = 500
        error = type(e).__name__
        raise
    finally:
        if pipe is not None:
            _log(rt, request, principal, pipe, started, time.monotonic() - t0, status, error, executed, params)


def _result_rows(executed: Executed | None) -> int:
    if executed is None:
        return 0
    data = executed.result.data
    if executed.format in ("JSON", "JSONCompact"):
        i = data.rfind(b'"rows":')
        if i >= 0:
            j = i + 7
            k = j
            while k < len(data) and data[k:k + 1] in b" 0123456789":
                k += 1
            try:
                return int(data[j:k])
            except ValueError:
                return 0
        return 0
    if executed.format in ("JSONEachRow", "CSV", "TSV"):
        return data.count(b"\n")
    if executed.format in ("CSVWithNames", "TSVWithNames"):
        return max(0, data.count(b"\n") - 1)
    return 0


def _log(rt: Any, request: Request, principal: Principal, pipe: dict[str, Any], started: str, duration: float,
         status: int, error: str | None, executed: Executed | None, params: dict[str, Any]) -> None:
    res = executed.result if executed else None
    rt.logs.add("pipe_stats_rt", {
        "start_datetime": started,
        "pipe_id": pipe["id"],
        "pipe_name": pipe["name"],
        "token": principal.token_id,
        "token_name": principal.name,
        "duration": duration,
        "read_bytes": res.bytes_read if res else 0,
        "read_rows": res.rows_read if res else 0,
        "cpu_time": duration,
        "result_rows": _result_rows(executed),
        "url": _clean_url(request),
        "error": 0 if status < 400 else 1,
        "error_message": error,
        "status_code": status,
        "request_id": str(getattr(request.state, "request_id", "")),
        "parameters": {k: (v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in params.items()},
        "method": request.method,
        "user_agent": request.headers.get("user-agent"),
        "client_ip": request.client.host if request.client else None,
    })


def pipe_stats_summary(rt: Any, pipe: dict[str, Any]) -> dict[str, Any]:
    from roost.sql.literals import string_literal

    res = rt.engine.query(
        "SELECT count() AS requests, countIf(error = 1) AS errors, avg(duration) AS avg_duration, "
        "quantile(0.9)(duration) AS p90_duration, max(start_datetime) AS last_request "
        f"FROM tinybird.pipe_stats_rt WHERE pipe_id = {string_literal(pipe['id'])}",
        "JSON", settings={"readonly": 1, "output_format_json_quote_64bit_integers": 0})
    data = orjson.loads(res.data)["data"]
    return {"pipe": pipe["name"], **(data[0] if data else {})}
