"""Events API (reference §5): ``POST /v0/events?name=<ds>[&wait=true]`` with NDJSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from roost.api.params import flag
from roost.api.responses import json_response
from roost.api.routing import DS_APPEND, route
from roost.auth.principal import Principal
from roost.errors import DOC_EVENTS, BadRequest, NotFound


@route("/v0/events", ["POST"], requires=DS_APPEND)
async def events(request: Request, principal: Principal) -> Response:
    rt = request.app.state.rt
    name = request.query_params.get("name") or ""
    if not name:
        raise BadRequest("The name parameter is required", documentation=DOC_EVENTS)
    ds = rt.datasources.find_cached(name)
    if ds is None:
        raise NotFound(f'Data Source "{name}" does not exist', documentation=DOC_EVENTS)
    limit = rt.settings.events_max_body
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        from roost.errors import PayloadTooLarge

        raise PayloadTooLarge(f"The request body is too large: the limit is {limit} bytes")
    gz = (request.headers.get("content-encoding") or "").lower() == "gzip" or None
    payload = await _read(request, limit, gz)
    if not payload.strip():
        raise BadRequest("The request body is empty: send NDJSON, one JSON object per line",
                         documentation=DOC_EVENTS)
    if flag(request.query_params.get("wait")):
        res = await rt.events.accept_wait(ds, payload)
        return json_response({"successful_rows": res.rows, "quarantined_rows": res.quarantined}, status=200)
    acc = await rt.events.accept(ds, payload)
    return json_response({"successful_rows": acc.rows, "quarantined_rows": acc.quarantined}, status=202)


async def _read(request: Request, limit: int, gz: bool | None) -> bytes:
    """Read (and gunzip) a small body in memory, enforcing the limit on the decoded size."""
    import zlib

    from roost.errors import PayloadTooLarge

    chunks: list[bytes] = []
    size = 0
    decoder = None
    first = True
    async for chunk in request.stream():
        if not chunk:
            continue
        if first:
            first = False
            if gz is None:
                gz = chunk[:2] == b"\x1f\x8b"
            if gz:
                decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if decoder is not None:
            try:
                chunk = decoder.decompress(chunk, limit - size + 1)
            except zlib.error as e:
                raise BadRequest(f"Invalid gzip body: {e}") from None
            if decoder.unconsumed_tail:
                raise PayloadTooLarge(f"The request body is too large: the limit is {limit} bytes")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is too large: the limit is {limit} bytes")
        chunks.append(chunk)
    if decoder is not None and not decoder.eof:
        raise BadRequest("Invalid gzip body: the stream is truncated")
    return b"".join(chunks)


