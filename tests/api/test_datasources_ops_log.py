"""Every create, append, replace, truncate, delete, alter and drop is in ``tinybird.datasources_ops_log``
(reference §10), readable by the admin through the Query API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.ingest.helpers import append, create, ndjson, sql, wait_for


def ops(admin: httpx.Client, ds_id: str) -> list[dict[str, Any]]:
    return sql(admin, "SELECT event_type, datasource_id, datasource_name, result, error, rows, rows_quarantine, "
                      "import_id, job_id, request_id, `Options.Names` AS names, `Options.Values` AS values, "
                      "elapsed_time, toString(timestamp) AS ts "
                      f"FROM tinybird.datasources_ops_log WHERE datasource_id = '{ds_id}' ORDER BY timestamp")


def wait_ops(admin: httpx.Client, ds_id: str, n: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = wait_for(lambda: (lambda o: o if len(o) >= n else None)(ops(admin, ds_id)),
                                         timeout=30) or ops(admin, ds_id)
    return got


def test_every_operation_is_logged(admin: httpx.Client, unique: str) -> None:
    ds = create(admin, unique, "`a` UInt32 `json:$.a`, `b` String `json:$.b`")
    r1 = append(admin, unique, ndjson([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": "bad"}]), fmt="ndjson")
    r2 = append(admin, unique, ndjson([{"a": 3, "b": "z"}]), fmt="ndjson", mode="replace")
    assert admin.post(f"/v0/datasources/{unique}/truncate").status_code == 205
    append(admin, unique, ndjson([{"a": i, "b": "w"} for i in range(10)]), fmt="ndjson")
    job = admin.post(f"/v0/datasources/{unique}/delete", data={"delete_condition": "a < 4"}).json()
    assert wait_for(lambda: admin.get(f"/v0/jobs/{job['id']}").json()["status"] == "done", timeout=60)
    assert admin.post(f"/v0/datasources/{unique}/alter", data={"description": "new"}).status_code == 200
    assert admin.post("/v0/events", params={"name": unique, "wait": "true"}, content=b'{"a":1,"b":"e"}\n').json() \
        == {"successful_rows": 1, "quarantined_rows": 0}
    assert admin.delete(f"/v0/datasources/{unique}").status_code == 204

    log = wait_ops(admin, ds["id"], 9)
    kinds = [x["event_type"] for x in log]
    assert sorted(kinds) == sorted(["create", "append", "replace", "truncate", "append", "delete_data", "alter",
                                    "append-hfi", "delete"]), kinds
    assert all(x["datasource_name"] == unique and x["result"] == "ok" for x in log), log
    assert all(x["request_id"] or x["job_id"] for x in log if x["event_type"] != "append-hfi")
    first_append = next(x for x in log if x["import_id"] == r1["import_id"])
    assert (first_append["event_type"], first_append["rows"], first_append["rows_quarantine"]) == ("append", 2, 1)
    assert "column 'a'" in first_append["error"]
    assert first_append["names"] == ["format"] and first_append["values"] == ["ndjson"]
    replace = next(x for x in log if x["event_type"] == "replace")
    assert (replace["rows"], replace["rows_quarantine"], replace["import_id"]) == (1, 0, r2["import_id"])
    delete = next(x for x in log if x["event_type"] == "delete_data")
    assert delete["rows"] == 4 and delete["job_id"] == job["id"]
    assert "delete_condition" in delete["names"]
    hfi = next(x for x in log if x["event_type"] == "append-hfi")
    assert hfi["rows"] == 1


def test_failed_operations_are_logged_as_errors(admin: httpx.Client, unique: str) -> None:
    ds = create(admin, unique, "`a` UInt32 `json:$.a`")
    r = admin.post("/v0/datasources", params={"mode": "append", "name": unique, "format": "ndjson"},
                   content=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400
    log = wait_ops(admin, ds["id"], 2)
    assert [(x["event_type"], x["result"]) for x in log] == [("create", "ok"), ("append", "error")]
    assert "gzip" in log[1]["error"]
    assert log[1]["import_id"]


def test_ops_log_is_admin_only(server: Any, admin: httpx.Client, unique: str) -> None:
    create(admin, unique, "`a` UInt32 `json:$.a`")
    r = admin.post("/v0/tokens", params={"name": unique + "_reader", "scope": f"DATASOURCES:READ:{unique}"})
    assert r.status_code == 200, r.text
    reader = r.json()["token"]
    with server.client(reader) as c:
        r = c.get("/v0/sql", params={"q": "SELECT count() FROM tinybird.datasources_ops_log FORMAT JSON"})
        assert r.status_code == 403, r.text
        r = c.get("/v0/sql", params={"q": f"SELECT count() AS n FROM {unique}_quarantine FORMAT JSON"})
        assert r.status_code == 200, r.text
