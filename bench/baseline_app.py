"""The bare baseline of bench/endpoint.py: a minimal ASGI app running a given SQL on chDB.

Same HTTP stack as Roost (Starlette on uvicorn with uvloop/httptools) and the same pool shape (one
chDB connection per worker thread, 4 threads), but no auth, no compiler, no logging: the request
``/q/<kind>/<n>`` substitutes the integer ``n`` into the SQL template of ``<kind>`` and returns the
engine's JSON bytes.

Environment: ``BASELINE_PATH`` (chDB data path), ``BASELINE_SQL`` (JSON object kind -> SQL with
``{a}``/``{b}`` placeholders), ``BASELINE_SETTINGS`` (a SETTINGS clause appended to every query).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import chdb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATH = os.environ["BASELINE_PATH"]
SQL: dict[str, str] = json.loads(os.environ["BASELINE_SQL"])
SETTINGS = os.environ.get("BASELINE_SETTINGS", "")
_local = threading.local()
_pool = ThreadPoolExecutor(max_workers=4)


def _run(sql: str) -> bytes:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = chdb.connect(PATH)
    return bytes(conn.query(sql + SETTINGS, "JSON").bytes())


async def q(request: Request) -> Response:
    kind = request.path_params["kind"]
    n = int(request.path_params["n"])
    sql = SQL[kind].format(a=n, b=n + 999)
    data = await asyncio.get_running_loop().run_in_executor(_pool, _run, sql)
    return Response(data, media_type="application/json")


async def health(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(routes=[Route("/q/{kind}/{n:int}", q), Route("/healthz", health)])
