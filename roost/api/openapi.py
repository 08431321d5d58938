"""OpenAPI 3 document of every endpoint the caller may call (``GET /v0/pipes/openapi.json``)."""

from __future__ import annotations

from typing import Any

from roost import __version__
from roost.auth.principal import Principal

TYPE_MAP = {
    "String": {"type": "string"}, "Boolean": {"type": "boolean"}, "Date": {"type": "string", "format": "date"},
    "DateTime": {"type": "string", "format": "date-time"}, "DateTime64": {"type": "string", "format": "date-time"},
    "Float32": {"type": "number"}, "Float64": {"type": "number"},
}


def _schema(t: str) -> dict[str, Any]:
    if t in TYPE_MAP:
        return dict(TYPE_MAP[t])
    if t.startswith(("Int", "UInt", "Integer")):
        return {"type": "integer"}
    if t.startswith("Array"):
        inner = t[t.find("(") + 1: -1] if "(" in t else "String"
        return {"type": "array", "items": _schema(inner.strip("'\" ") or "String")}
    return {"type": "string"}


def endpoints_openapi(rt: Any, principal: Principal, base_url: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for pipe in rt.catalog.list_pipes():
        if rt.pipes.endpoint_index(pipe) is None:
            continue
        if not (principal.may_create_pipes() or principal.pipe_read(pipe["name"]) is not None):
            continue
        fixed = (principal.pipe_read(pipe["name"]) or None)
        fixed_names = set((fixed.fixed_params or {}).keys()) if fixed else set()
        params = []
        for p in rt.pipes.all_params(pipe):
            if p["name"] in fixed_names:
                continue
            schema = _schema(str(p.get("type") or "String"))
            if p.get("default") is not None:
                schema["default"] = p["default"]
            params.append({"name": p["name"], "in": "query", "required": bool(p.get("required")),
                           "description": p.get("description") or "", "schema": schema})
        for fmt, ctype in (("json", "application/json"), ("csv", "text/csv"), ("ndjson", "application/x-ndjson"),
                           ("parquet", "application/vnd.apache.parquet")):
            paths[f"/v0/pipes/{pipe['name']}.{fmt}"] = {
                "get": {
                    "summary": pipe.get("description") or pipe["name"],
                    "operationId": f"{pipe['name']}_{fmt}",
                    "parameters": params,
                    "responses": {"200": {"description": "Result", "content": {ctype: {}}},
                                  "400": {"description": "Bad parameter"}, "403": {"description": "Forbidden"}},
                    "security": [{"TokenAuth": []}, {"TokenQuery": []}],
                }
            }
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{rt.workspace['name']} endpoints", "version": __version__},
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {"securitySchemes": {
            "TokenAuth": {"type": "http", "scheme": "bearer"},
            "TokenQuery": {"type": "apiKey", "in": "query", "name": "token"}}},
    }
