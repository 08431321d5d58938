"""Reading request parameters the way Tinybird's clients send them (query string, form, JSON)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request

from roost.errors import BadRequest

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def content_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";")[0].strip().lower()


def query_params(request: Request) -> dict[str, str]:
    """Single-valued view of the query string (first value wins; ``token`` removed)."""
    out: dict[str, str] = {}
    for k, v in request.query_params.multi_items():
        if k != "token":
            out.setdefault(k, v)
    return out


async def form_params(request: Request) -> tuple[dict[str, str], list[tuple[str, UploadFile]]]:
    """Fields and files of a form body (urlencoded or multipart), merged over the query string."""
    params = query_params(request)
    files: list[tuple[str, UploadFile]] = []
    ct = content_type(request)
    if ct in (FORM, MULTIPART):
        try:
            form = await request.form(max_files=10, max_fields=1000, max_part_size=16 * 1024 * 1024)
        except Exception as e:
            raise BadRequest(f"Invalid form body: {e}") from None
        for k, v in form.multi_items():
            if isinstance(v, UploadFile):
                files.append((k, v))
            elif k != "token":
                params[k] = str(v)
    return params, files


async def multi_params(request: Request) -> dict[str, list[str]]:
    """Every value of every key, from the query string and a form or JSON body."""
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        if k != "token":
            out.setdefault(k, []).append(v)
    if request.method in ("POST", "PUT"):
        ct = content_type(request)
        if ct in (FORM, MULTIPART):
            form = await request.form()
            for k, item in form.multi_items():
                if k != "token" and not isinstance(item, UploadFile):
                    out.setdefault(k, []).append(str(item))
        elif ct == "application/json":
            body = await request.body()
            if body.strip():
                try:
                    data = orjson.loads(body)
                except orjson.JSONDecodeError as e:
                    raise BadRequest(f"Invalid JSON body: {e}") from None
                if isinstance(data, dict):
                    for k, v in data.items():
                        if k == "token":
                            continue
                        vals = v if isinstance(v, list) else [v]
                        out.setdefault(k, []).extend(_to_str(x) for x in vals)
    return out


def _to_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return orjson.dumps(v).decode()


def flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")
