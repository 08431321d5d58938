"""Data Sources API (reference §4): thin handlers over ``roost.datasources``."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from roost.api.params import MULTIPART, content_type, flag, form_params, query_params
from roost.api.responses import empty, json_response
from roost.api.routing import ANY_TOKEN, DS_APPEND, DS_CREATE, DS_DROP, DS_POST, DS_READ, route, scope_error
from roost.auth.principal import Principal
from roost.errors import DOC_DATASOURCES, BadRequest, Conflict, NotFound
from roost.ingest.spool import Spool

FORMATS = ("csv", "ndjson", "parquet")
PARQUET_MAGIC = b"PAR1"


def _rt(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.rt


def _rid(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def _visible(principal: Principal, name: str) -> bool:
    if principal.may_create_datasources():
        return True
    return (
        principal.datasource_read(name) is not None
        or principal.may_append(name)
        or principal.may_drop_datasource(name)
    )


@route("/v0/datasources", ["GET"], requires=ANY_TOKEN)
async def list_datasources(request: Request, principal: Principal) -> Response:
    rt = _rt(request)

    def work() -> list[dict[str, Any]]:
        stats = rt.datasources.stats()
        return [rt.datasources.describe(ds, stats) for ds in rt.catalog.list_datasources()
                if _visible(principal, ds["name"])]

    items = await rt.engine.run(work)
    attrs = request.query_params.get("attrs")
    if attrs:
        keep = {a.strip() for a in attrs.split(",") if a.strip()} | {"name"}
        items = [{k: v for k, v in it.items() if k in keep} for it in items]
    return json_response({"datasources": items})


@route("/v0/datasources/{name}", ["GET"], requires=DS_READ)
async def get_datasource(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    name = request.path_params["name"]
    if name.endswith(".datasource"):
        from roost.api.datafile_text import datasource_text

        ds = rt.datasources.get(name.removesuffix(".datasource"))
        # exactly text/plain: tb pull parses anything else (even with a charset) as JSON
        return Response(datasource_text(rt, ds), headers={"Content-Type": "text/plain"})
    ds = rt.datasources.get(name)
    stats = await rt.engine.run(rt.datasources.stats)
    return json_response(rt.datasources.describe(ds, stats))


def _sniff(head: bytes) -> str:
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "ndjson"
    return "csv"


async def _spool_body(request: Request, limit: int, files: list[tuple[str, UploadFile]]) -> tuple[Path, str | None]:
    """Spool the data of an append/replace; returns (path, format hinted by a multipart part name)."""
    rt = _rt(request)
    gz = (request.headers.get("content-encoding") or "").lower() == "gzip" or None
    spool = Spool(rt.data_dir / "tmp", limit, gzip=gz if files == [] else None)
    hint = None
    try:
        if files:
            part_name, upload = files[0]
            for k, f in files:
                if k in FORMATS:
                    part_name, upload = k, f
                    break
            hint = part_name if part_name in FORMATS else None
            if upload.filename and upload.filename.endswith(".gz"):
                spool._gzip = True
            while chunk := await upload.read(1 << 20):
                spool.write(chunk)
            return spool.finish(), hint
        return await spool.consume(request.stream()), None
    except ClientDisconnect:
        spool.discard()
        raise BadRequest("The request body was not received completely: the client disconnected") from None
    except BaseException:
        spool.discard()
        raise


@route("/v0/datasources", ["POST"], requires=DS_POST)
async def post_datasources(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    mode = (request.query_params.get("mode") or "create").lower()
    if mode not in ("create", "append", "replace"):
        raise BadRequest(f"Invalid mode '{mode}': use create, append or replace", documentation=DOC_DATASOURCES)
    files: list[tuple[str, UploadFile]] = []
    if mode == "create":
        params, files = await form_params(request)
        if not files and content_type(request) != MULTIPART:
            if params.get("url"):
                raise BadRequest("Importing from a URL is not supported by Roost: send the data in the body",
                                 documentation=DOC_DATASOURCES)
            ds = await rt.engine.run(rt.datasources.create, params, _rid(request))
            stats = await rt.engine.run(rt.datasources.stats)
            return json_response({"datasource": rt.datasources.describe(ds, stats), "import_id": None,
                                  "error": None})
    params = query_params(request)
    if content_type(request) == MULTIPART:
        params, files = await form_params(request)  # Starlette keeps the parsed form: read once
    name = params.get("name") or ""
    if not name:
        raise BadRequest("The name parameter is required", documentation=DOC_DATASOURCES)
    if mode == "create":
        ds = await rt.engine.run(rt.datasources.create, params, _rid(request))
        mode = "append"
    else:
        ds = rt.datasources.find(name)
        if ds is None and mode == "append" and params.get("schema"):  # Classic: an append with a schema creates
            if not principal.may_create_datasources():
                raise scope_error(DS_CREATE)
            ds = await rt.engine.run(rt.datasources.create, params, _rid(request))
        if ds is None:
            raise NotFound(f'Data Source "{name}" does not exist: create it first with a schema',
                           documentation=DOC_DATASOURCES)
    return await _import(request, ds, mode, params, files)


async def _import(request: Request, ds: dict[str, Any], mode: str, params: dict[str, str],
                  files: list[tuple[str, UploadFile]]) -> Response:
    rt = _rt(request)
    import_id = str(uuid.uuid4())
    t0 = time.monotonic()
    fmt = (params.get("format") or "").lower()
    try:
        path, hint = await _spool_body(request, rt.settings.append_max_body, files)
        try:
            fmt = fmt or hint or ""
            if not fmt:
                with open(path, "rb") as f:
                    fmt = _sniff(f.read(4096))
            if fmt not in FORMATS:
                raise BadRequest(f"Unsupported format '{fmt}': use csv, ndjson or parquet",
                                 documentation=DOC_DATASOURCES)
            delimiter = params.get("dialect_delimiter") or ","
            if delimiter == "\\t":
                delimiter = "\t"
            empty_body = path.stat().st_size == 0
            if mode == "replace" and empty_body and not flag(params.get("replace_truncate_when_empty"), False):
                raise BadRequest("The replace body is empty; set replace_truncate_when_empty=true to truncate",
                                 documentation=DOC_DATASOURCES)
            run = rt.datasources.replace_file if mode == "replace" else rt.datasources.import_file
            res = await rt.engine.run(lambda: run(ds, path, fmt, import_id, delimiter=delimiter))
        finally:
            path.unlink(missing_ok=True)
    except Exception as e:
        rt.logs.ops(mode, ds, result="error", error=getattr(e, "message", str(e)), import_id=import_id,
                    request_id=_rid(request), elapsed=time.monotonic() - t0, options={"format": fmt})
        raise
    rt.logs.ops(mode, ds, elapsed=time.monotonic() - t0, rows=res.rows, rows_quarantine=res.quarantined,
                import_id=import_id, request_id=_rid(request), error="; ".join(res.errors) or None,
                options={"format": fmt})
    stats = await rt.engine.run(rt.datasources.stats)
    error: Any = False
    if res.quarantined:
        error = f"There was an error with file contents: {res.quarantined} rows in quarantine."
    return json_response(
        {
            "datasource": rt.datasources.describe(ds, stats),
            "import_id": import_id,
            "job_id": import_id,
            "invalid_lines": res.quarantined,
            "quarantine_rows": res.quarantined,
            "successful_rows": res.rows,
            "quarantined_rows": res.quarantined,
            "error": error,
            "errors": res.errors,
            "blocks": [{"process_return": [{"parser": "roost", "lines": res.rows + res.quarantined,
                                            "quarantine": res.quarantined}]}],
        }
    )


@route("/v1/datasources/{name}/append", ["POST"], requires=DS_APPEND, name="v1_append")
async def v1_append(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    ds = rt.datasources.get(request.path_params["name"])
    return await _import(request, ds, "append", query_params(request), [])


@route("/v0/datasources/{name}/truncate", ["POST"], requires=DS_CREATE)
async def truncate(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    await rt.engine.run(rt.datasources.truncate, request.path_params["name"], _rid(request))
    return empty(205)


@route("/v0/datasources/{name}/delete", ["POST"], requires=DS_CREATE)
async def delete_rows(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    ds = rt.datasources.get(request.path_params["name"])
    params, _ = await form_params(request)
    cond_text = params.get("delete_condition")
    if not cond_text:
        raise BadRequest("delete_condition is mandatory", documentation=DOC_DATASOURCES)
    condition = rt.datasources.check_condition(ds, cond_text)
    if flag(params.get("dry_run")):
        n = await rt.engine.run(rt.datasources.count_where, ds, condition)
        return json_response({"rows_to_be_deleted": n})
    from roost.jobs import start_job

    job = start_job(rt, "delete_data", {"datasource": {"id": ds["id"], "name": ds["name"]},
                                         "delete_condition": cond_text},
                    lambda job_id: _run_delete(rt, ds, condition, job_id, _rid(request)))
    envelope = job_envelope(request, job)
    envelope["delete_id"] = job["id"]
    return json_response(envelope, status=201)


def _run_delete(rt: Any, ds: dict[str, Any], condition: str, job_id: str, request_id: str) -> dict[str, Any]:
    t0 = time.monotonic()
    try:
        n = rt.datasources.delete_rows(ds, condition, job_id)
    except Exception as e:
        rt.logs.ops("delete_data", ds, result="error", error=getattr(e, "message", str(e)), job_id=job_id,
                    request_id=request_id)
        raise
    rt.logs.ops("delete_data", ds, elapsed=time.monotonic() - t0, rows=n, job_id=job_id, request_id=request_id,
                options={"delete_condition": condition})
    return {"rows_affected": n}


def job_envelope(request: Request, job: dict[str, Any]) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {"id": job["id"], "job_id": job["id"], "job_url": f"{base}/v0/jobs/{job['id']}", "job": job,
            "status": job["status"]}


@route("/v0/datasources/{name}/alter", ["POST"], requires=DS_CREATE)
async def alter(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    ds = rt.datasources.get(request.path_params["name"])
    params, _ = await form_params(request)
    if not any(k in params for k in ("schema", "description", "ttl", "indexes")):
        raise BadRequest("alter_no_parameters: give schema, description or ttl", documentation=DOC_DATASOURCES)
    ops = await rt.engine.run(rt.datasources.alter, ds, params, flag(params.get("dry")), _rid(request))
    return json_response({"operations": ops})


@route("/v0/datasources/{name}", ["PUT"], requires=DS_CREATE, name="put_datasource")
async def put_datasource(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    ds = rt.datasources.get(request.path_params["name"])
    params, _ = await form_params(request)
    if params.get("name") and params["name"] != ds["name"]:
        raise BadRequest("Renaming a Data Source is not supported", documentation=DOC_DATASOURCES)
    if "description" in params:
        rt.catalog.update_datasource(ds["id"], {**ds, "description": params["description"]})
        rt.datasources.invalidate()
        rt.changed()
    stats = await rt.engine.run(rt.datasources.stats)
    return json_response(rt.datasources.describe(rt.datasources.get(ds["id"]), stats))


@route("/v0/datasources/{name}", ["DELETE"], requires=DS_DROP, name="drop_datasource")
async def drop_datasource(request: Request, principal: Principal) -> Response:
    rt = _rt(request)
    ds = rt.datasources.get(request.path_params["name"])
    deps = rt.datasources.dependent_pipes(ds)
    if flag(request.query_params.get("dry_run")):
        return json_response({"dependent_pipes": deps})
    if deps and not flag(request.query_params.get("force")):
        raise Conflict(
            f'Data Source "{ds["name"]}" is used by downstream pipes: {", ".join(deps)}. Use force=true to drop it',
            documentation=DOC_DATASOURCES,
        )
    await rt.engine.run(rt.datasources.drop, ds, _rid(request))
    from roost.tokens import DS_SCOPES

    await rt.engine.run(rt.tokens.drop_resource_scopes, DS_SCOPES, ds, principal.name)
    return empty(204)
