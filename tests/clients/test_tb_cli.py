"""Tinybird's classic ``tb`` CLI (tinybird-cli 6.5.5), unchanged, against a live Roost.

Each test asserts the exit code and then what changed on the server, read back over HTTP with the admin
token (``tb`` masks static token values in its output, so values are read through the API too).
"""

from __future__ import annotations

import csv
import io
import json
import re

import httpx
import pytest

from tests.clients.conftest import Tb, jwt_from
from tests.clients.helpers import (
    count,
    csv_text,
    datasource_file,
    endpoint,
    expected,
    ndjson,
    pipe_file,
    reload,
    rows,
    scopes,
    sql,
    token,
    token_file,
    token_value,
)
from tests.support.server import RoostServer, wait_until


def push_project(tb: Tb, p: str, reader: bool = True) -> tuple[str, str]:
    """Push ``<p>_ev`` (data source) and ``<p>_by_user`` (endpoint); returns their names."""
    ds, pipe = f"{p}_ev", f"{p}_by_user"
    tb.write(f"datasources/{ds}.datasource", datasource_file())
    tb.write(f"pipes/{pipe}.pipe", pipe_file(ds, reader_token=f"{p}_reader" if reader else None))
    tb("push", f"datasources/{ds}.datasource", f"pipes/{pipe}.pipe")
    return ds, pipe


def test_auth_writes_tinyb_and_auth_info(tb: Tb, http: httpx.Client, roost: RoostServer) -> None:
    ws = http.get("/v0/workspace").json()
    r = tb("auth", "--host", roost.url, "--token", roost.admin_token)
    assert "Auth successful" in r.out
    conf = json.loads((tb.cwd / ".tinyb").read_text())
    assert conf["host"] == roost.url and conf["token"] == roost.admin_token
    assert conf["id"] == ws["id"] and conf["name"] == ws["name"]
    assert conf["tokens"][roost.url] == roost.admin_token
    info = tb("auth", "info")
    assert ws["name"] in info.out and ws["id"] in info.out and roost.url in info.out
    assert roost.admin_token not in info.out  # masked: p.ey…<last 8>
    # without --host: the host comes from .tinyb
    tb("auth", "--token", roost.admin_token)


def test_auth_refuses_a_bad_token(tb: Tb, roost: RoostServer) -> None:
    before = (tb.cwd / ".tinyb").read_text()
    r = tb("auth", "--host", roost.url, "--token", "p.not-a-token", ok=False)
    assert "Invalid token" in r.out
    assert (tb.cwd / ".tinyb").read_text() == before


def test_push_datasource_pipe_and_token(tb: Tb, http: httpx.Client, unique: str) -> None:
    ds, pipe = push_project(tb, unique)
    info = http.get(f"/v0/datasources/{ds}").json()
    assert [c["name"] for c in info["columns"]] == ["timestamp", "user_id", "event_type", "price"]
    assert info["description"] == "Shop events"
    assert info["engine"]["sorting_key"] == "user_id, timestamp"
    p = http.get(f"/v0/pipes/{pipe}").json()
    assert p["endpoint"] and p["nodes"][-1]["node_type"] == "endpoint"
    assert [x["name"] for x in p["nodes"][-1]["params"]] == ["event_type"]
    # the pipe's TOKEN line: a token that reads the endpoint
    assert scopes(token(http, f"{unique}_reader")) == {("PIPES:READ", pipe, "")}

    tb.write(f"tokens/{unique}_u1.token", token_file(pipe, ds, user="u1", description="user u1"))
    tb("push", f"tokens/{unique}_u1.token")
    t = token(http, f"{unique}_u1")
    assert t["description"] == "user u1"
    assert scopes(t) == {("PIPES:READ", pipe, ""), ("DATASOURCES:READ", ds, "user_id = 'u1'")}

    # the token's rows, through the endpoint, are u1's only
    data = rows(["u1", "u2", "u3"])
    reload(http, ds, data)
    r = endpoint(tb.url, t["token"], pipe)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == expected(data, user="u1")

    # pushing again: the pipe is skipped, the token refuses without --force
    r2 = tb("push", f"pipes/{pipe}.pipe")
    assert "already exists" in r2.out
    r3 = tb("push", f"tokens/{unique}_u1.token", ok=False)
    assert "already exists" in r3.out
    assert token_value(http, f"{unique}_u1") == t["token"]


def test_push_force_alters_replaces_and_updates(tb: Tb, http: httpx.Client, unique: str) -> None:
    ds, pipe = push_project(tb, unique)
    data = rows(["u1", "u2"])
    reload(http, ds, data)
    tb.write(f"tokens/{unique}_t.token", token_file(pipe, ds, user="u1"))
    tb("push", f"tokens/{unique}_t.token")
    value = token_value(http, f"{unique}_t")

    # data source: a new description and a new column at the end -> /alter, rows kept
    tb.write(f"datasources/{ds}.datasource", datasource_file("Shop events v2", extra_column=True))
    r = tb("push", f"datasources/{ds}.datasource", "--force", "--yes")
    assert "ADD COLUMN `country` String" in r.out
    info = http.get(f"/v0/datasources/{ds}").json()
    assert [c["name"] for c in info["columns"]][-1] == "country"
    assert info["description"] == "Shop events v2"
    assert count(http, ds) == len(data)

    # pipe, unchanged results: tb runs its regression check (a __checker pipe replaying the requests found in
    # tinybird.pipe_stats_rt), then replaces the pipe; its TOKEN keeps reading only the real pipe
    assert endpoint(tb.url, token_value(http, f"{unique}_reader"), pipe).status_code == 200
    # the request log is written in batches off the request path: wait until tb can find the request
    logged = f"SELECT count() AS c FROM tinybird.pipe_stats_rt WHERE pipe_name = '{pipe}' FORMAT JSON"
    assert wait_until(lambda: http.get("/v0/sql", params={"q": logged}).json()["data"][0]["c"] > 0, 15)
    r = tb("push", f"pipes/{pipe}.pipe", "--force")
    assert re.search(rf"new {re.escape(tb.url)}/v0/pipes/{pipe}__checker\.json\?\S+ \.\.\. ok", r.out), r.out
    assert http.get(f"/v0/pipes/{pipe}__checker").status_code == 404
    assert scopes(token(http, f"{unique}_reader")) == {("PIPES:READ", pipe, "")}

    # pipe, changed results: replaced with --no-check
    tb.write(f"pipes/{pipe}.pipe", pipe_file(ds, reader_token=f"{unique}_reader", measure="max(price)"))
    tb("push", f"pipes/{pipe}.pipe", "--force", "--no-check")
    assert "max(price)" in http.get(f"/v0/pipes/{pipe}").json()["nodes"][-1]["sql"]
    got = endpoint(tb.url, value, pipe).json()["data"]
    assert got == [{"user_id": "u1", "n": 2, "total": max(float(x["price"]) for x in data
                                                          if x["user_id"] == "u1" and x["event_type"] == "view")}]

    # token: --force replaces the scopes (PUT), the value stays
    tb.write(f"tokens/{unique}_t.token", token_file(pipe, ds, user="u2"))
    tb("push", f"tokens/{unique}_t.token", "--force")
    t = token(http, f"{unique}_t")
    assert t["token"] == value
    assert ("DATASOURCES:READ", ds, "user_id = 'u2'") in scopes(t)
    assert [x["user_id"] for x in endpoint(tb.url, value, pipe).json()["data"]] == ["u2"]


def test_datasource_append_ndjson_and_csv(tb: Tb, http: httpx.Client, unique: str) -> None:
    ds, _ = push_project(tb, unique, reader=False)
    a, b = rows(["u1", "u2"]), rows(["u3"], per_user=4)
    tb.write("a.ndjson", ndjson(a))
    tb.write("b.csv", csv_text(b))
    r = tb("datasource", "append", ds, "a.ndjson")
    assert f"Total rows in {ds}: {len(a)}" in r.out
    tb("datasource", "append", ds, "b.csv")
    assert count(http, ds) == len(a) + len(b)
    got = sql(http, f"SELECT user_id, event_type, price, toString(timestamp) AS timestamp FROM {ds} "
                    "ORDER BY user_id, timestamp, event_type")
    want = sorted(a + b, key=lambda x: (x["user_id"], x["timestamp"], x["event_type"]))
    assert got == [{"user_id": x["user_id"], "event_type": x["event_type"], "price": x["price"],
                    "timestamp": x["timestamp"]} for x in want]
    # a row that does not fit the schema: tb reports the quarantine and exits 1; the row is in quarantine
    tb.write("bad.ndjson", '{"timestamp": "not a date", "user_id": "z", "event_type": "view", "price": "x"}\n')
    r = tb("datasource", "append", ds, "bad.ndjson", ok=False)
    assert "1 rows in quarantine" in r.out
    assert count(http, ds, "user_id = 'z'") == 0
    assert count(http, f"{ds}_quarantine") == 1


def test_datasource_ls(tb: Tb, http: httpx.Client, unique: str) -> None:
    ds, _ = push_project(tb, unique, reader=False)
    reload(http, ds, rows(["u1"], per_user=5))
    r = tb("datasource", "ls")
    assert f"name: {ds}" in r.out
    listed = {d["name"]: d for d in tb("datasource", "ls", "--format", "json").json()["datasources"]}
    assert listed[ds]["row_count"] == 5


def test_datasource_truncate(tb: Tb, http: httpx.Client, unique: str) -> None:
    ds, _ = push_project(tb, unique, reader=False)
    reload(http, ds, rows(["u1", "u2"]))
    tb("datasource", "truncate", ds, "--yes")
    assert count(http, ds) == 0
    tb("datasource", "truncate", f"{unique}_missing", "--yes", ok=False)


def test_datasource_delete_sql_condition(tb: Tb, http: httpx.Client, unique: str) -> None:
    ds, _ = push_project(tb, unique, reader=False)
    data = rows(["u1", "u2", "u3"])
    reload(http, ds, data)
    r = tb("datasource", "delete", ds, "--sql-condition", "user_id = 'u2'", "--dry-run")
    assert "6" in r.out and "DRY RUN" in r.out
    assert count(http, ds) == len(data)
    tb("datasource", "delete", ds, "--sql-condition", "user_id = 'u2' AND event_type = 'view'", "--yes", "--wait")
    assert count(http, ds, "user_id = 'u2'") == 4
    assert count(http, ds) == len(data) - 2
    # a condition the compiler refuses is refused, and deletes nothing
    tb("datasource", "delete", ds, "--sql-condition", "user_id IN (SELECT user_id FROM system.tables)", "--yes",
       "--wait", ok=False)
    assert count(http, ds) == len(data) - 2


def test_pipe_ls_and_data(tb: Tb, http: httpx.Client, unique: str) -> None:
    ds, pipe = push_project(tb, unique, reader=False)
    data = rows(["u1", "u2", "u3"])
    reload(http, ds, data)
    assert pipe in tb("pipe", "ls").out
    listed = {p["name"]: p for p in tb("pipe", "ls", "--format", "json").json()["pipes"]}
    assert pipe in listed

    got = tb("pipe", "data", pipe, "--event_type", "cart", "--format", "json").json()
    assert got["data"] == expected(data, "cart")
    assert got["data"] != expected(data, "view")
    text = tb("pipe", "data", pipe, "--event_type", "purchase", "--format", "csv").stdout
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [{"user_id": x["user_id"], "n": int(x["n"]), "total": float(x["total"])} for x in parsed] == \
        expected(data, "purchase")
    human = tb("pipe", "data", pipe).out  # the default parameter value
    assert "Rows read" in human and all(u in human for u in ("u1", "u2", "u3"))
    tb("pipe", "data", f"{unique}_missing", ok=False)


def test_sql_json_and_csv(tb: Tb, http: httpx.Client, unique: str) -> None:
    ds, _ = push_project(tb, unique, reader=False)
    reload(http, ds, rows(["u1", "u2"], per_user=3))
    q = f"SELECT user_id, count() AS c FROM {ds} GROUP BY user_id ORDER BY user_id"
    assert tb("sql", q, "--format", "json").json()["data"] == [{"user_id": "u1", "c": 3}, {"user_id": "u2", "c": 3}]
    assert tb("sql", q, "--format", "csv").stdout.split() == ['"user_id","c"', '"u1",3', '"u2",3']
    human = tb("sql", q).out
    assert "u1" in human and "u2" in human
    r = tb("sql", "SELECT * FROM system.tables", ok=False)
    assert "Error" in r.out


def test_tokens_static_filter_refresh_and_rm(tb_factory, http: httpx.Client, unique: str,  # type: ignore[no-untyped-def]
                                             roost: RoostServer) -> None:
    tb = tb_factory()
    ds, pipe = push_project(tb, unique, reader=False)
    data = rows(["u1", "u2"])
    reload(http, ds, data)
    name = f"{unique}_user1"
    tb("token", "create", "static", name, "--scope", "PIPES:READ", "--resource", pipe,
       "--scope", "DATASOURCES:READ", "--resource", ds, "--filter", "user_id = 'u1'")
    t = token(http, name)
    assert scopes(t) == {("PIPES:READ", pipe, ""), ("DATASOURCES:READ", ds, "user_id = 'u1'")}
    assert name in tb("token", "ls").out
    assert name in tb("token", "ls", "--match", unique).out
    sc = tb("token", "scopes", name).out
    assert "user_id = 'u1'" in sc
    assert endpoint(tb.url, t["token"], pipe).json()["data"] == expected(data, user="u1")

    # the CLI itself with the narrow token: its startup GET /v0/workspace must not stop it
    as_user = tb_factory(token=t["token"])
    got = as_user("pipe", "data", pipe, "--format", "json").json()["data"]
    assert got == expected(data, user="u1")
    got = as_user("--token", t["token"], "--host", roost.url, "pipe", "data", pipe, "--format", "json").json()
    assert got["data"] == expected(data, user="u1")
    assert as_user("sql", f"SELECT DISTINCT user_id FROM {ds}", "--format", "json").json()["data"] == \
        [{"user_id": "u1"}]

    # refresh: a new value; the old one is refused at once
    tb("token", "refresh", name, "--yes")
    new = token_value(http, name)
    assert new != t["token"]
    assert endpoint(tb.url, t["token"], pipe).status_code == 403
    assert endpoint(tb.url, new, pipe).json()["data"] == expected(data, user="u1")

    # rm: gone, and its value refused
    tb("token", "rm", name, "--yes")
    assert http.get(f"/v0/tokens/{name}").status_code == 404
    assert endpoint(tb.url, new, pipe).status_code == 403
    r = tb("token", "rm", name, "--yes", ok=False)
    assert "does not exist" in r.out
    tb("token", "refresh", name, "--yes", ok=False)

    # a scope on a resource that does not exist: refused, nothing created
    tb("token", "create", "static", f"{unique}_bad", "--scope", "PIPES:READ", "--resource", f"{unique}_nope",
       ok=False)
    assert http.get(f"/v0/tokens/{unique}_bad").status_code == 404


def test_token_create_jwt(tb_factory, http: httpx.Client, unique: str,  # type: ignore[no-untyped-def]
                          roost: RoostServer) -> None:
    tb = tb_factory()
    ds, pipe = push_project(tb, unique, reader=False)
    data = rows(["u1", "u2"])
    reload(http, ds, data)
    # fixed params: the caller cannot change event_type
    r = tb("token", "create", "jwt", f"{unique}_j1", "--ttl", "1h", "--scope", "PIPES:READ", "--resource", pipe,
           "--fixed-params", "event_type=purchase")
    j1 = jwt_from(r.out)
    got = endpoint(tb.url, j1, pipe, event_type="view").json()["data"]
    assert got == expected(data, "purchase")
    # a row filter (tb pairs --filter with the scope at the same position: DATASOURCES:READ comes first)
    r = tb("token", "create", "jwt", f"{unique}_j2", "--ttl", "1h",
           "--scope", "DATASOURCES:READ", "--resource", ds, "--filter", "user_id = 'u2'",
           "--scope", "PIPES:READ", "--resource", pipe)
    j2 = jwt_from(r.out)
    assert endpoint(tb.url, j2, pipe).json()["data"] == expected(data, user="u2")
    # tb itself with the JWT (its startup GET /v0/workspace gets a 403, which tb tolerates)
    got = tb_factory(token=j2)("--token", j2, "--host", roost.url, "pipe", "data", pipe, "--format", "json").json()
    assert got["data"] == expected(data, user="u2")
    # JWTs are not stored
    assert http.get(f"/v0/tokens/{unique}_j1").status_code == 404


def test_pull_writes_the_workspace_back(tb_factory, http: httpx.Client, unique: str) -> None:  # type: ignore[no-untyped-def]
    """``tb pull`` reads ``/v0/datasources/<ds>.datasource`` and ``/v1/pipes/<pipe>.pipe``; it takes a body as
    text only when Content-Type is exactly ``text/plain`` (no charset)."""
    tb = tb_factory()
    ds, pipe = push_project(tb, unique, reader=False)
    assert http.get(f"/v1/pipes/{pipe}.pipe").headers["content-type"] == "text/plain"
    if http.get(f"/v0/datasources/{ds}.datasource").headers["content-type"] != "text/plain":
        # roost/api/datasources.py answers `text/plain; charset=utf-8` there (see docs/clients.md)
        pytest.xfail("GET /v0/datasources/<ds>.datasource must answer Content-Type: text/plain exactly")
    out = tb_factory(name="pulled")
    out("pull", "--auto")
    text = (out.cwd / "datasources" / f"{ds}.datasource").read_text()
    assert "`user_id` String `json:$.user_id`" in text and "ENGINE_SORTING_KEY" in text
    assert "String(event_type, 'view'" in (out.cwd / "pipes" / f"{pipe}.pipe").read_text()
    # and the pulled files push back
    r = out("push", f"datasources/{ds}.datasource", f"pipes/{pipe}.pipe", "--force", "--no-check", "--yes")
    assert "Failed" not in r.out
    assert http.get(f"/v0/pipes/{pipe}").json()["endpoint"]
