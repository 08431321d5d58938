"""Pipes and endpoints (issue 5)."""

from __future__ import annotations

import io
import time

import jwt as pyjwt
import orjson
import pyarrow.parquet as pq
import pytest

from tests.support.data import create_events, create_pipe, sql
from tests.support.server import RoostServer, wait_until

PER_USER = """%
SELECT event_type, count() AS n, round(sum(price), 2) AS total
FROM {ds}
WHERE 1 {{% if defined(event_type) %}} AND event_type = {{{{ String(event_type, description="kind") }}}} {{% end %}}
GROUP BY event_type
ORDER BY event_type
LIMIT {{{{ Int32(limit, 100) }}}}
"""


@pytest.fixture(scope="module")
def ds(server: RoostServer) -> str:
    with server.admin() as admin:
        create_events(admin, "pp_events", users=6, per_user=30)
    return "pp_events"


@pytest.fixture(scope="module")
def pipe(server: RoostServer, ds: str) -> str:
    with server.admin() as admin:
        create_pipe(admin, "pp_per_user", PER_USER.format(ds=ds))
    return "pp_per_user"


def _token(admin, name: str, scopes: list[str]) -> str:  # type: ignore[no-untyped-def]
    r = admin.post("/v0/tokens", params={"name": name, "scope": scopes})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def test_pipe_json_lists_params(admin, pipe):  # type: ignore[no-untyped-def]
    r = admin.get(f"/v0/pipes/{pipe}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "endpoint"
    params = {p["name"]: p for p in body["nodes"][0]["params"]}
    assert params["event_type"]["type"] == "String" and params["event_type"]["description"] == "kind"
    assert params["limit"]["default"] == 100
    assert pipe in [p["name"] for p in admin.get("/v0/pipes").json()["pipes"]]


def test_endpoint_admin_all_formats(admin, pipe):  # type: ignore[no-untyped-def]
    r = admin.get(f"/v0/pipes/{pipe}.json")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"meta", "data", "rows", "statistics", "rows_before_limit_at_least"}
    assert sum(row["n"] for row in body["data"]) == 180
    csv = admin.get(f"/v0/pipes/{pipe}.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].replace('"', "") == "event_type,n,total"
    nd = admin.get(f"/v0/pipes/{pipe}.ndjson")
    assert nd.headers["content-type"].startswith("application/x-ndjson")
    assert len(nd.text.strip().splitlines()) == 3
    pa = admin.get(f"/v0/pipes/{pipe}.parquet")
    assert pq.read_table(io.BytesIO(pa.content)).num_rows == 3


def test_filtered_token_sees_only_its_rows_in_every_format(admin, server, ds, pipe, unique):  # type: ignore[no-untyped-def]
    tk = _token(admin, unique, [f"PIPES:READ:{pipe}", f"DATASOURCES:READ:{ds}:user_id = 3"])
    with server.client(tk) as c:
        body = c.get(f"/v0/pipes/{pipe}.json").json()
        assert sum(row["n"] for row in body["data"]) == 30
        nd = [orjson.loads(line) for line in c.get(f"/v0/pipes/{pipe}.ndjson").text.strip().splitlines()]
        assert sum(row["n"] for row in nd) == 30
        pa = pq.read_table(io.BytesIO(c.get(f"/v0/pipes/{pipe}.parquet").content))
        assert sum(pa.column("n").to_pylist()) == 30
        # q runs over the endpoint result as _
        r = c.get(f"/v0/pipes/{pipe}.json", params={"q": "SELECT sum(n) AS s FROM _"})
        assert r.status_code == 200, r.text
        assert r.json()["data"][0]["s"] == 30
        # other pipes / tables are out of reach through q
        r = c.get(f"/v0/pipes/{pipe}.json", params={"q": f"SELECT count() FROM {ds}"})
        assert r.status_code in (200, 403)
        if r.status_code == 200:
            assert r.json()["data"][0]["count()"] == 30


def test_pipes_read_filter_applies_to_output(admin, server, pipe, unique):  # type: ignore[no-untyped-def]
    tk = _token(admin, unique, [f"PIPES:READ:{pipe}:event_type = 'cart'"])
    with server.client(tk) as c:
        r = c.get(f"/v0/pipes/{pipe}.json")
        assert r.status_code == 200, r.text
        assert {row["event_type"] for row in r.json()["data"]} == {"cart"}


def test_params_and_errors(admin, pipe):  # type: ignore[no-untyped-def]
    r = admin.get(f"/v0/pipes/{pipe}.json", params={"event_type": "view", "limit": 5, "unknown": "x"})
    assert r.status_code == 200, r.text
    assert [row["event_type"] for row in r.json()["data"]] == ["view"]
    r = admin.get(f"/v0/pipes/{pipe}.json", params={"limit": "abc"})
    assert r.status_code == 400
    assert "limit" in r.json()["error"] and "Int32" in r.json()["error"]
    r = admin.post(f"/v0/pipes/{pipe}.json", data={"event_type": "cart"})
    assert r.status_code == 200 and [x["event_type"] for x in r.json()["data"]] == ["cart"]
    r = admin.post(f"/v0/pipes/{pipe}.json", json={"event_type": "purchase"})
    assert r.status_code == 200 and [x["event_type"] for x in r.json()["data"]] == ["purchase"]


@pytest.mark.parametrize(
    "value",
    ["view' OR 1=1 --", "view\\' OR 1=1", "'; DROP TABLE pp_events; --", "view\x00", "vie\u0301w",
     "{{ limit }}", "{% end %}", "x" * 50_000, "’ OR ’1’=’1", "view/*", "view\nUNION ALL SELECT 1"],
)
def test_hostile_values_are_bound_as_literals(admin, pipe, value):  # type: ignore[no-untyped-def]
    r = admin.get(f"/v0/pipes/{pipe}.json", params={"event_type": value})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 200:
        assert r.json()["data"] == []


def test_repeated_keys_and_huge_values(admin, pipe):  # type: ignore[no-untyped-def]
    r = admin.get(f"/v0/pipes/{pipe}.json?event_type=view&event_type=cart")
    assert r.status_code in (200, 400)
    r = admin.get(f"/v0/pipes/{pipe}.json", params={"limit": "9" * 40})
    assert r.status_code == 400
    r = admin.post(f"/v0/pipes/{pipe}.json", data={"event_type": "y" * 300_000})
    assert r.status_code == 400
    assert "event_type" in r.json()["error"]


def test_jwt_fixed_params_win(admin, server, pipe):  # type: ignore[no-untyped-def]
    ws = admin.get("/v0/workspace").json()["id"]
    tok = pyjwt.encode({"workspace_id": ws, "name": "fp", "exp": int(time.time()) + 300,
                        "scopes": [{"type": "PIPES:READ", "resource": pipe, "fixed_params": {"event_type": "cart"}}]},
                       server.admin_token, algorithm="HS256")
    with server.client(tok) as c:
        r = c.get(f"/v0/pipes/{pipe}.json", params={"event_type": "view"})
        assert r.status_code == 200, r.text
        assert [row["event_type"] for row in r.json()["data"]] == ["cart"]
        # a JWT cannot call another pipe
        other = c.get("/v0/pipes/pp_other.json")
        assert other.status_code == 403


def test_jwt_rate_limit(admin, server, pipe):  # type: ignore[no-untyped-def]
    ws = admin.get("/v0/workspace").json()["id"]
    tok = pyjwt.encode({"workspace_id": ws, "name": "rl", "exp": int(time.time()) + 300, "limits": {"rps": 1},
                        "scopes": [{"type": "PIPES:READ", "resource": pipe}]}, server.admin_token, algorithm="HS256")
    with server.client(tok) as c:
        rs = [c.get(f"/v0/pipes/{pipe}.json") for _ in range(6)]
    limited = [r for r in rs if r.status_code == 429]
    assert limited
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"):
        assert limited[0].headers[h].isdigit()


def test_cors(server, pipe):  # type: ignore[no-untyped-def]
    import httpx

    r = httpx.options(f"{server.url}/v0/pipes/{pipe}.json", headers={"Origin": "http://example.com",
                                                                     "Access-Control-Request-Method": "GET"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    r = httpx.get(f"{server.url}/v0/pipes/{pipe}.json", headers={"Origin": "http://example.com"})
    assert r.headers["access-control-allow-origin"] == "*"


def test_nodes_publish_unpublish_delete(admin, ds, unique):  # type: ignore[no-untyped-def]
    r = admin.post("/v0/pipes", data={"name": unique, "sql": f"SELECT user_id, price FROM {ds}"})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "default"
    assert admin.get(f"/v0/pipes/{unique}.json").status_code == 404
    r = admin.post(f"/v0/pipes/{unique}/nodes", params={"name": "agg"},
                   content=f"SELECT user_id, sum(price) AS s FROM {unique}_0 GROUP BY user_id ORDER BY user_id")
    assert r.status_code == 200, r.text
    r = admin.post(f"/v0/pipes/{unique}/nodes/agg/endpoint")
    assert r.status_code == 200 and r.json()["type"] == "endpoint"
    data = admin.get(f"/v0/pipes/{unique}.json").json()["data"]
    assert [d["user_id"] for d in data] == [1, 2, 3, 4, 5, 6]
    r = admin.put(f"/v0/pipes/{unique}/nodes/agg", data={"sql": f"SELECT count() AS c FROM {unique}_0"})
    assert r.status_code == 200, r.text
    assert admin.get(f"/v0/pipes/{unique}.json").json()["data"] == [{"c": 180}]
    assert admin.delete(f"/v0/pipes/{unique}/nodes/agg/endpoint").status_code == 200
    assert admin.get(f"/v0/pipes/{unique}.json").status_code == 404
    assert admin.delete(f"/v0/pipes/{unique}/nodes/agg").status_code == 204
    assert admin.delete(f"/v0/pipes/{unique}").status_code == 204
    assert admin.get(f"/v0/pipes/{unique}").status_code == 404


def test_bad_pipes(admin, ds, unique):  # type: ignore[no-untyped-def]
    bad = [
        {"name": unique, "nodes": []},
        {"name": "1bad", "nodes": [{"name": "n", "sql": "SELECT 1"}]},
        {"name": unique, "nodes": [{"name": "n", "sql": "SELECT * FROM secret_table"}]},
        {"name": unique, "nodes": [{"name": "n", "sql": "SELECT file('/etc/passwd')"}]},
        {"name": unique, "nodes": [{"name": "n", "sql": "DROP TABLE x"}]},
        {"name": unique, "nodes": [{"name": "n", "sql": "%\nSELECT {{ import os }}"}]},
        {"name": unique, "nodes": [{"name": "n", "sql": "SELECT 1"}, {"name": "n", "sql": "SELECT 2"}]},
        {"name": ds, "nodes": [{"name": "n", "sql": "SELECT 1"}]},
    ]
    for body in bad:
        r = admin.post("/v0/pipes", json=body)
        assert r.status_code in (400, 403, 409), (body, r.text)
        assert "error" in r.json()


def test_pipe_as_table_in_sql(admin, server, pipe, ds, unique):  # type: ignore[no-untyped-def]
    r = sql(admin, f"SELECT sum(n) AS s FROM {pipe} FORMAT JSON")
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["s"] == 180
    tk = _token(admin, unique, [f"PIPES:READ:{pipe}", f"DATASOURCES:READ:{ds}:user_id = 2"])
    with server.client(tk) as c:
        r = sql(c, f"SELECT sum(n) AS s FROM {pipe} FORMAT JSON")
        assert r.status_code == 200, r.text
        assert r.json()["data"][0]["s"] == 30


def test_materialized_view(admin, unique):  # type: ignore[no-untyped-def]
    src, tgt = f"{unique}_src", f"{unique}_agg"
    assert admin.post("/v0/datasources", data={
        "name": src, "schema": "`k` String `json:$.k`, `v` UInt64 `json:$.v`", "engine_sorting_key": "k"}
    ).status_code == 200
    admin.post("/v0/datasources", params={"mode": "append", "name": src, "format": "ndjson"},
               content=b'{"k":"a","v":1}\n{"k":"b","v":2}\n')
    r = admin.post("/v0/datasources", data={
        "name": tgt, "schema": "`k` String, `c` AggregateFunction(count), `s` AggregateFunction(sum, UInt64)",
        "engine": "AggregatingMergeTree", "engine_sorting_key": "k"})
    assert r.status_code == 200, r.text
    r = admin.post("/v0/pipes", params={"populate": "true"}, json={"name": f"{unique}_mv", "nodes": [{
        "name": "mv", "type": "materialized", "datasource": tgt,
        "sql": f"SELECT k, countState() AS c, sumState(v) AS s FROM {src} GROUP BY k"}]})
    assert r.status_code == 200, r.text
    job = r.json().get("job")
    assert job
    wait_until(lambda: admin.get(f"/v0/jobs/{job['id']}").json()["status"] in ("done", "error"), 30)
    assert admin.get(f"/v0/jobs/{job['id']}").json()["status"] == "done"
    admin.post("/v0/datasources", params={"mode": "append", "name": src, "format": "ndjson"},
               content=b'{"k":"a","v":10}\n{"k":"c","v":5}\n')
    r = sql(admin, f"SELECT k, countMerge(c) AS c, sumMerge(s) AS s FROM {tgt} GROUP BY k ORDER BY k FORMAT JSON")
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [{"k": "a", "c": 2, "s": 11}, {"k": "b", "c": 1, "s": 2}, {"k": "c", "c": 1, "s": 5}]
    assert admin.delete(f"/v0/pipes/{unique}_mv").status_code == 204
    admin.post("/v0/datasources", params={"mode": "append", "name": src, "format": "ndjson"},
               content=b'{"k":"z","v":1}\n')
    r = sql(admin, f"SELECT count() AS n FROM {tgt} WHERE k = 'z' FORMAT JSON")
    assert r.json()["data"][0]["n"] == 0


def test_pipe_stats_rt(admin, server, pipe, unique):  # type: ignore[no-untyped-def]
    tk = _token(admin, unique, [f"PIPES:READ:{pipe}"])
    with server.client(tk) as c:
        assert c.get(f"/v0/pipes/{pipe}.json", params={"limit": 2}).status_code == 200
        assert c.get(f"/v0/pipes/{pipe}.json", params={"limit": "bad"}).status_code == 400

    def rows():  # type: ignore[no-untyped-def]
        r = sql(admin, "SELECT token_name, status_code, url, parameters, result_rows, pipe_name "
                       f"FROM tinybird.pipe_stats_rt WHERE token_name = '{unique}' ORDER BY status_code FORMAT JSON")
        return r.json()["data"] if r.status_code == 200 else None

    data = wait_until(lambda: (rows() or []) if len(rows() or []) >= 2 else None, 15)
    assert data and [d["status_code"] for d in data] == [200, 400]
    assert data[0]["pipe_name"] == pipe and data[0]["result_rows"] == 2
    assert data[0]["parameters"]["limit"] == "2"
    assert "token" not in data[0]["url"]


def test_openapi(admin, server, pipe, unique):  # type: ignore[no-untyped-def]
    tk = _token(admin, unique, [f"PIPES:READ:{pipe}"])
    with server.client(tk) as c:
        doc = c.get("/v0/pipes/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    path = doc["paths"][f"/v0/pipes/{pipe}.json"]["get"]
    names = {p["name"]: p for p in path["parameters"]}
    assert names["limit"]["schema"]["type"] == "integer" and names["limit"]["schema"]["default"] == 100
    assert all(p.startswith(f"/v0/pipes/{pipe}.") for p in doc["paths"])


def test_result_cache_never_crosses_tenants(admin, server, ds, unique):  # type: ignore[no-untyped-def]
    name = f"{unique}_cached"
    r = admin.post("/v0/pipes", params={"cache_ttl": 60}, json={"name": name, "nodes": [
        {"name": "n", "type": "endpoint", "sql": f"SELECT DISTINCT user_id FROM {ds} ORDER BY user_id"}]})
    assert r.status_code == 200, r.text
    a = _token(admin, unique + "a", [f"PIPES:READ:{name}", f"DATASOURCES:READ:{ds}:user_id = 1"])
    b = _token(admin, unique + "b", [f"PIPES:READ:{name}", f"DATASOURCES:READ:{ds}:user_id = 2"])
    for _ in range(2):
        with server.client(a) as c:
            assert c.get(f"/v0/pipes/{name}.json").json()["data"] == [{"user_id": 1}]
        with server.client(b) as c:
            assert c.get(f"/v0/pipes/{name}.json").json()["data"] == [{"user_id": 2}]


def test_column_parameter_is_checked_against_real_columns(admin, ds, unique):  # type: ignore[no-untyped-def]
    sql = f"%\nSELECT {{{{column(col, 'event_type')}}}} AS v, count() AS n FROM {ds} GROUP BY v ORDER BY v"
    r = admin.post("/v0/pipes", json={"name": unique, "nodes": [{"name": "n", "type": "endpoint", "sql": sql}]})
    assert r.status_code == 200, r.text
    assert admin.get(f"/v0/pipes/{unique}.json", params={"col": "user_id"}).status_code == 200
    for bad in ("nope", "user_id`) OR 1=1 --", "system.tables"):
        r = admin.get(f"/v0/pipes/{unique}.json", params={"col": bad})
        assert r.status_code == 400, (bad, r.text)
