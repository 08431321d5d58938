"""HTTP helpers for the data source, events and errors tests (a real server, exact numbers)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

ERROR_KEYS = {"error", "documentation"}


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def create(admin: httpx.Client, name: str, schema: str, **params: str) -> dict[str, Any]:
    r = admin.post("/v0/datasources", data={"name": name, "schema": schema, **params})
    assert r.status_code == 200, r.text
    return dict(r.json()["datasource"])


def append(admin: httpx.Client, name: str, body: bytes, *, fmt: str | None = None,
           headers: dict[str, str] | None = None, expect: int = 200, **params: str) -> dict[str, Any]:
    q = {"mode": "append", "name": name, **params}
    if fmt:
        q["format"] = fmt
    r = admin.post("/v0/datasources", params=q, content=body, headers=headers or {})
    assert r.status_code == expect, r.text
    return dict(r.json())


def info(admin: httpx.Client, name: str) -> dict[str, Any]:
    r = admin.get(f"/v0/datasources/{name}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def row_count(admin: httpx.Client, name: str) -> int:
    return int(info(admin, name)["statistics"]["row_count"])


def counts(admin: httpx.Client, name: str) -> tuple[int, int]:
    d = info(admin, name)
    return int(d["statistics"]["row_count"]), int(d["quarantine_rows"])


def sql(admin: httpx.Client, q: str) -> list[dict[str, Any]]:
    """Rows of ``q`` through the Query API (``FORMAT JSON``)."""
    r = admin.get("/v0/sql", params={"q": q + " FORMAT JSON"})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def wait_for(fn: Any, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``fn`` until it returns a truthy value or the deadline passes (a functional wait)."""
    deadline = time.monotonic() + timeout
    last = fn()
    while not last and time.monotonic() < deadline:
        time.sleep(interval)
        last = fn()
    return last


def assert_error(r: httpx.Response, status: int, *needles: str) -> dict[str, Any]:
    """One JSON error shape everywhere: ``{"error", "documentation"}`` with a message naming the problem."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert ERROR_KEYS <= set(body), body
    assert isinstance(body["error"], str) and body["error"]
    assert body["documentation"].startswith("https://")
    assert "Traceback" not in r.text
    for n in needles:
        assert n.lower() in body["error"].lower(), (n, body["error"])
    return dict(body)
