"""Test data helpers: a small deterministic ``events``-like data source over HTTP."""

from __future__ import annotations

import httpx
import orjson

SCHEMA = (
    "`timestamp` DateTime `json:$.timestamp`, `user_id` UInt32 `json:$.user_id`, "
    "`event_type` String `json:$.event_type`, `price` Float64 `json:$.price`"
)


def event_rows(users: int = 5, per_user: int = 20) -> list[dict[str, object]]:
    rows = []
    for u in range(1, users + 1):
        for i in range(per_user):
            rows.append({"timestamp": f"2026-01-{1 + i % 28:02d} 10:00:00", "user_id": u,
                         "event_type": ["view", "cart", "purchase"][i % 3], "price": round(u + i / 10, 2)})
    return rows


def create_events(admin: httpx.Client, name: str, users: int = 5, per_user: int = 20) -> list[dict[str, object]]:
    r = admin.post("/v0/datasources", data={"name": name, "schema": SCHEMA, "engine_sorting_key": "user_id, timestamp"})
    assert r.status_code == 200, r.text
    rows = event_rows(users, per_user)
    body = b"\n".join(orjson.dumps(x) for x in rows) + b"\n"
    r = admin.post("/v0/datasources", params={"mode": "append", "name": name, "format": "ndjson"}, content=body)
    assert r.status_code == 200, r.text
    assert r.json()["successful_rows"] == len(rows)
    return rows


def create_pipe(admin: httpx.Client, name: str, sql: str, endpoint: bool = True) -> dict[str, object]:
    node = {"name": f"{name}_node", "sql": sql, "type": "endpoint" if endpoint else "standard"}
    r = admin.post("/v0/pipes", json={"name": name, "nodes": [node]})
    assert r.status_code == 200, r.text
    return dict(r.json())


def sql(client: httpx.Client, q: str) -> httpx.Response:
    return client.get("/v0/sql", params={"q": q})
