"""verdin 0.5.3 (LocalStack's Tinybird SDK), unchanged, against a live Roost."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.clients.helpers import count, expected, rows, wait_count

SCHEMA = ("`timestamp` DateTime `json:$.timestamp`, `user_id` String `json:$.user_id`, "
          "`event_type` String `json:$.event_type`, `price` Float64 `json:$.price`")
PIPE_SQL = ("%\nSELECT user_id, count() AS n, round(sum(price), 2) AS total FROM {ds}\n"
            "WHERE event_type = {{{{ String(event_type, 'view') }}}}\nGROUP BY user_id ORDER BY user_id")


def setup(http: httpx.Client, p: str) -> tuple[str, str]:
    ds, pipe = f"{p}_ev", f"{p}_ep"
    r = http.post("/v0/datasources", data={"name": ds, "schema": SCHEMA, "engine_sorting_key": "user_id, timestamp"})
    assert r.status_code == 200, r.text
    node = {"name": "by_user", "sql": PIPE_SQL.format(ds=ds), "type": "endpoint"}
    r = http.post("/v0/pipes", json={"name": pipe, "nodes": [node]})
    assert r.status_code == 200, r.text
    return ds, pipe


def user_token(http: httpx.Client, name: str, ds: str, pipe: str, user: str, append: bool = False) -> str:
    scope = [f"PIPES:READ:{pipe}", f"DATASOURCES:READ:{ds}:user_id = '{user}'"]
    if append:
        scope.append(f"DATASOURCES:APPEND:{ds}")
    r = http.post("/v0/tokens", params=[("name", name), *[("scope", s) for s in scope]])
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def as_rows(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"user_id": x["user_id"], "n": int(x["n"]), "total": float(x["total"])} for x in data]


def test_append_and_events(verdin, http: httpx.Client, unique: str) -> None:  # type: ignore[no-untyped-def]
    ds, _ = setup(http, unique)
    client = verdin()
    source = client.datasource(ds)

    a = rows(["u1", "u2"])
    resp = source.append_ndjson(a)
    assert resp.status_code == 200 and resp.json()["datasource"]["name"] == ds
    assert count(http, ds) == len(a)

    b = rows(["u3"], per_user=3)
    resp = source.append_csv([[x["timestamp"], x["user_id"], x["event_type"], x["price"]] for x in b])
    assert resp.status_code == 200, resp.text
    assert count(http, ds, "user_id = 'u3'") == 3

    c = rows(["u4"], per_user=4)
    ev = source.send_events(c, wait=True)
    assert ev.successful_rows == 4 and ev.quarantined_rows == 0
    assert count(http, ds, "user_id = 'u4'") == 4

    d = rows(["u5"], per_user=2)
    client.api.events.send(ds, d)  # no wait: 202 once durable, visible a moment later
    assert wait_count(http, ds, 2, "user_id = 'u5'") == 2

    appended = client.api.datasources.append(ds, "2026-02-01 00:00:00,u6,view,1.5\n", format="csv")
    assert appended.error is None or appended.error is False
    assert count(http, ds, "user_id = 'u6'") == 1

    info = client.api.datasources.get_information(ds).info
    assert info["name"] == ds and info["statistics"]["row_count"] == len(a) + 3 + 4 + 2 + 1
    assert ds in [x["name"] for x in client.api.datasources.list().datasources]

    source.truncate()
    assert count(http, ds) == 0


def test_user_token_sees_only_its_rows(verdin, http: httpx.Client, unique: str) -> None:  # type: ignore[no-untyped-def]
    ds, pipe = setup(http, unique)
    data = rows(["alice", "bob", "carol"], per_user=9)
    verdin().datasource(ds).append_ndjson(data)
    for user in ("alice", "bob"):
        client = verdin(user_token(http, f"{unique}_{user}", ds, pipe, user))
        # the endpoint, with and without a parameter
        assert as_rows(client.pipe(pipe).query().data) == expected(data, user=user)
        assert as_rows(client.pipe(pipe).query({"event_type": "cart"}).data) == expected(data, "cart", user=user)
        assert client.api.pipes.query(pipe, parameters={"event_type": "purchase"}, format="csv").data
        # SQL over the endpoint's result, and pages of it
        res = client.pipe(pipe).sql("SELECT count() AS c, any(user_id) AS u FROM _")
        assert res.data == [{"c": 1, "u": user}]
        pages = [p.data for p in client.pipe(pipe).pages(page_size=1)]
        assert [r for page in pages for r in page] == client.pipe(pipe).query().data
        # the Query API: the filter applies to the data source too
        got = client.sql(f"SELECT user_id, count() AS c FROM {ds} GROUP BY user_id").json().data
        assert got == [{"user_id": user, "c": 9}]
        low = client.api.query.query(f"SELECT DISTINCT user_id FROM {ds}").data
        assert low == [{"user_id": user}]
        templ = client.api.query.query(
            f"% SELECT count() AS c FROM {ds} WHERE event_type = {{{{String(t, 'view')}}}}",
            parameters={"t": "cart"}).data  # parameters: POST /v0/sql as a form
        assert templ == [{"c": 3}]
        # what it may not do
        from verdin.api import ApiError

        with pytest.raises(ApiError) as e:
            client.api.tokens.list()
        assert "403" in str(e.value)
        with pytest.raises(ApiError):
            client.datasource(ds).append_ndjson(rows([user]))
    assert count(http, ds) == len(data)


def test_tokens_and_pipes_apis(verdin, http: httpx.Client, unique: str) -> None:  # type: ignore[no-untyped-def]
    ds, pipe = setup(http, unique)
    user_token(http, f"{unique}_u1", ds, pipe, "u1", append=True)
    client = verdin()
    names = [t["name"] for t in client.api.tokens.list().tokens]
    assert f"{unique}_u1" in names
    info = client.api.tokens.get_information(f"{unique}_u1").info
    assert {"type": "DATASOURCES:READ", "resource": ds, "filter": "user_id = 'u1'"} in info["scopes"]
    assert pipe in [p["name"] for p in client.api.pipes.list().pipes]
    assert client.api.pipes.get_information(pipe).info["name"] == pipe

    # the appending user token writes through verdin, and reads back only its own rows
    user = verdin(info["token"])
    user.datasource(ds).send_events(rows(["u1", "u2"], per_user=3), wait=True)
    verdin().datasource(ds).append_ndjson(rows(["u2"], per_user=3))
    assert count(http, ds) == 9
    assert as_rows(user.pipe(pipe).query().data) == [{"user_id": "u1", "n": 1, "total": 1.0}]


def test_errors_are_raised_as_verdin_errors(verdin, http: httpx.Client, unique: str) -> None:  # type: ignore[no-untyped-def]
    from verdin.api import ApiError
    from verdin.api.datasources import DataSourceNotFoundError
    from verdin.pipe import PipeError
    from verdin.query import QueryError

    ds, pipe = setup(http, unique)
    client = verdin()
    with pytest.raises(PipeError) as pe:
        client.pipe(f"{unique}_nope").query()
    assert "does not exist" in str(pe.value)
    verdin().datasource(ds).append_ndjson(rows(["u1"]))
    assert client.pipe(pipe).query({"event_type": "x' OR 1=1 --"}).data == []  # a value, never SQL
    with pytest.raises(QueryError):
        client.sql("SELECT * FROM system.tables").json()
    with pytest.raises(DataSourceNotFoundError):
        client.api.datasources.get_information(f"{unique}_nope")
    with pytest.raises(ApiError) as te:  # verdin raises TokenNotFoundError only on 403
        client.api.tokens.get_information(f"{unique}_nope")
    assert "404" in str(te.value)
    with pytest.raises(PipeError) as bad:
        verdin("p.not-a-token").pipe(pipe).query()
    assert bad.value.response.status_code == 403
