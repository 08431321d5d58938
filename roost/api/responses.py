"""Response helpers: orjson bodies and the one error shape."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from roost.errors import RoostError


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSON(content, status_code=status, headers=headers)


def error_response(err: RoostError, request_id: str | None = None) -> Response:
    headers = dict(err.headers)
    if request_id:
        headers["X-Request-ID"] = request_id
    return JSON(err.to_json(), status_code=err.status, headers=headers)


def empty(status: int = 204) -> Response:
    return Response(b"", status_code=status)
