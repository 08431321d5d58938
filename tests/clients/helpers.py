"""Datafiles in Tinybird Classic's format and the HTTP checks the client tests assert with."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.server import wait_until


def datasource_file(description: str = "Shop events", extra_column: bool = False,
                    token_append: str | None = None) -> str:
    cols = [
        "    `timestamp` DateTime `json:$.timestamp`",
        "    `user_id` String `json:$.user_id`",
        "    `event_type` String `json:$.event_type`",
        "    `price` Float64 `json:$.price`",
    ]
    if extra_column:
        cols.append("    `country` String `json:$.country`")
    token = f'TOKEN "{token_append}" APPEND\n\n' if token_append else ""
    return (f"DESCRIPTION >\n    {description}\n\n{token}SCHEMA >\n" + ",\n".join(cols) + "\n\n"
            'ENGINE "MergeTree"\nENGINE_SORTING_KEY "user_id, timestamp"\n'
            'ENGINE_PARTITION_KEY "toYYYYMM(timestamp)"\n')


def pipe_file(ds: str, reader_token: str | None = None, measure: str = "sum(price)") -> str:
    """An endpoint over ``ds`` with a template parameter (``event_type``, default 'view')."""
    token = f'TOKEN "{reader_token}" READ\n\n' if reader_token else ""
    return (
        "DESCRIPTION >\n    Per-user totals for one event type\n\n" + token
        + "NODE by_user\nSQL >\n    %\n"
        "    SELECT user_id, count() AS n, round(" + measure + ", 2) AS total\n"
        f"    FROM {ds}\n"
        "    WHERE event_type = {{ String(event_type, 'view', description='event type') }}\n"
        "    GROUP BY user_id\n    ORDER BY user_id\n\nTYPE endpoint\n"
    )


def token_file(pipe: str, ds: str, user: str | None = None, description: str = "reads the endpoint") -> str:
    text = f"DESCRIPTION >\n    {description}\n\nSCOPE PIPES:READ\nRESOURCE {pipe}\n\n"
    text += f"SCOPE DATASOURCES:READ\nRESOURCE {ds}\n"
    if user:
        text += f"FILTER user_id = '{user}'\n"
    return text


def rows(users: list[str], per_user: int = 6, start_day: int = 1) -> list[dict[str, Any]]:
    """Deterministic events: per user, ``per_user`` rows cycling view/cart/purchase."""
    out = []
    for ui, u in enumerate(users):
        for i in range(per_user):
            out.append({"timestamp": f"2026-01-{start_day + i % 27:02d} {10 + ui:02d}:00:00", "user_id": u,
                        "event_type": ["view", "cart", "purchase"][i % 3], "price": round(1 + ui + i / 4, 2)})
    return out


def ndjson(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def csv_text(records: list[dict[str, Any]], header: bool = True) -> str:
    cols = ["timestamp", "user_id", "event_type", "price"]
    lines = [",".join(cols)] if header else []
    lines += [",".join(str(r[c]) for c in cols) for r in records]
    return "\n".join(lines) + "\n"


def expected(records: list[dict[str, Any]], event_type: str = "view",
             user: str | None = None) -> list[dict[str, Any]]:
    """What the ``pipe_file`` endpoint returns for these records."""
    acc: dict[str, list[float]] = {}
    for r in records:
        if r["event_type"] == event_type and (user is None or r["user_id"] == user):
            acc.setdefault(str(r["user_id"]), []).append(float(r["price"]))
    return [{"user_id": u, "n": len(v), "total": round(sum(v), 2)} for u, v in sorted(acc.items())]


def sql(http: httpx.Client, q: str) -> list[dict[str, Any]]:
    r = http.get("/v0/sql", params={"q": q + " FORMAT JSON"})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


def count(http: httpx.Client, ds: str, where: str = "1") -> int:
    return int(sql(http, f"SELECT count() AS c FROM {ds} WHERE {where}")[0]["c"])


def wait_count(http: httpx.Client, ds: str, n: int, where: str = "1", timeout: float = 20) -> int:
    """Rows sent without ``wait`` are durable at once and visible a moment later: poll until ``n``."""
    last = [-1]

    def check() -> bool:
        last[0] = count(http, ds, where)
        return last[0] == n

    wait_until(check, timeout)
    return last[0]


def token(http: httpx.Client, name: str) -> dict[str, Any]:
    r = http.get(f"/v0/tokens/{name}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def token_value(http: httpx.Client, name: str) -> str:
    return str(token(http, name)["token"])


def endpoint(url: str, tok: str, pipe: str, **params: str) -> httpx.Response:
    return httpx.get(f"{url}/v0/pipes/{pipe}.json", params=params, headers={"Authorization": f"Bearer {tok}"},
                     timeout=30)


def reload(http: httpx.Client, ds: str, records: list[dict[str, Any]]) -> None:
    """Reset ``ds`` to exactly ``records`` (through the plain HTTP API)."""
    r = http.post(f"/v0/datasources/{ds}/truncate")
    assert r.status_code in (200, 205), r.text
    r = http.post("/v0/datasources", params={"mode": "append", "name": ds, "format": "ndjson"},
                  content=ndjson(records).encode())
    assert r.status_code == 200, r.text
    assert count(http, ds) == len(records)


def scopes(tok: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(s["type"], s.get("resource") or "", s.get("filter") or "") for s in tok["scopes"]}
