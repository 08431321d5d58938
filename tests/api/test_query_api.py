"""Query API (issue 4 §1): formats, content types, JSON shape, errors, /v0/sql_tables."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest

from tests.support.data import create_events, sql
from tests.support.server import RoostServer


@pytest.fixture(scope="module")
def ds(server: RoostServer) -> str:
    with server.admin() as admin:
        create_events(admin, "qa_events", users=4, per_user=10)
    return "qa_events"


def test_json_shape(admin, ds):  # type: ignore[no-untyped-def]
    r = sql(admin, f"SELECT user_id, count() AS c FROM {ds} GROUP BY user_id ORDER BY user_id LIMIT 3")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert [m["name"] for m in body["meta"]] == ["user_id", "c"]
    assert body["data"][0] == {"user_id": 1, "c": 10}
    assert body["rows"] == 3
    assert body["rows_before_limit_at_least"] == 4  # exact (exact_rows_before_limit=1), usable for paging
    assert set(body["statistics"]) >= {"elapsed", "rows_read", "bytes_read"}


def test_no_limit_no_rows_before_limit(admin, ds):  # type: ignore[no-untyped-def]
    body = sql(admin, f"SELECT count() AS c FROM {ds}").json()
    assert "rows_before_limit_at_least" not in body
    assert body["data"] == [{"c": 40}]


@pytest.mark.parametrize(
    "fmt,ctype",
    [("JSON", "application/json"), ("JSONCompact", "application/json"), ("JSONEachRow", "application/x-ndjson"),
     ("NDJSON", "application/x-ndjson"), ("CSV", "text/csv"), ("CSVWithNames", "text/csv"),
     ("TSV", "text/tab-separated-values"), ("TSVWithNames", "text/tab-separated-values"),
     ("Parquet", "application/vnd.apache.parquet"), ("json", "application/json")],
)
def test_formats(admin, ds, fmt, ctype):  # type: ignore[no-untyped-def]
    r = sql(admin, f"SELECT user_id, count() AS c FROM {ds} GROUP BY user_id ORDER BY user_id FORMAT {fmt}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(ctype)
    if fmt == "Parquet":
        assert pq.read_table(io.BytesIO(r.content)).num_rows == 4
    elif fmt == "CSVWithNames":
        assert r.text.splitlines()[0].replace('"', "") == "user_id,c"
    elif fmt in ("JSONEachRow", "NDJSON"):
        assert len(r.text.strip().splitlines()) == 4


@pytest.mark.parametrize("fmt", ["Pretty", "XML", "Native", "RowBinary", "Template", "Vertical"])
def test_other_formats_are_400(admin, ds, fmt):  # type: ignore[no-untyped-def]
    r = sql(admin, f"SELECT 1 FROM {ds} FORMAT {fmt}")
    assert r.status_code == 400
    assert "format" in r.json()["error"].lower()


def test_post_forms(admin, ds):  # type: ignore[no-untyped-def]
    q = f"SELECT count() AS c FROM {ds} FORMAT JSON"
    assert admin.post("/v0/sql", data={"q": q}).json()["data"] == [{"c": 40}]
    assert admin.post("/v0/sql", content=q, headers={"Content-Type": "text/plain"}).json()["data"] == [{"c": 40}]
    assert admin.post("/v0/sql", json={"q": q}).json()["data"] == [{"c": 40}]
    templ = admin.post("/v0/sql", json={"q": f"%\nSELECT count() AS c FROM {ds} WHERE user_id = {{{{Int32(u)}}}}",
                                        "u": 2})
    assert templ.status_code == 200, templ.text
    assert templ.json()["data"] == [{"c": 10}]


def test_errors(admin, ds):  # type: ignore[no-untyped-def]
    assert admin.get("/v0/sql").status_code == 400
    assert admin.post("/v0/sql").status_code == 400
    r = sql(admin, f"SELECT FROM WHERE {ds}")
    assert r.status_code == 400 and "error" in r.json()
    r = sql(admin, "SELECT * FROM no_such_table")
    assert r.status_code == 403 and "no_such_table" in r.json()["error"]
    r = sql(admin, "SELECT * FROM system.tables")
    assert r.status_code == 403
    r = sql(admin, f"SELECT * FROM {ds}; SELECT 1")
    assert r.status_code == 400
    r = sql(admin, "SELECT count() FROM numbers(100000000000) SETTINGS max_threads=1")
    assert r.status_code in (400, 403)


def test_timeout_is_a_4xx_naming_the_limit(tmp_path):  # type: ignore[no-untyped-def]
    srv = RoostServer(tmp_path / "d", env={"ROOST_MAX_EXECUTION_TIME": "1"}).start()
    try:
        with srv.admin() as admin:
            create_events(admin, "slow", users=2, per_user=5)
            r = sql(admin, "SELECT count() FROM numbers(10000000) AS a CROSS JOIN numbers(10000) AS b "
                           "WHERE cityHash64(a.number, b.number) % 7 = 1")
            assert 400 <= r.status_code < 500, r.text
            assert "max_execution_time" in r.json()["error"]
    finally:
        srv.stop()


def test_sql_tables(admin, ds):  # type: ignore[no-untyped-def]
    r = admin.post("/v0/sql_tables", data={"q": f"WITH x AS (SELECT * FROM {ds}) SELECT * FROM x JOIN other USING a",
                                           "raising": "true"})
    assert r.status_code == 200, r.text
    tables = {tuple(t) for t in r.json()["tables"]}
    assert ("", ds, "") in tables and ("", "other", "") in tables
    assert not any(t[1] == "x" for t in tables)


def test_admin_reads_quarantine_and_service_tables(admin, ds):  # type: ignore[no-untyped-def]
    assert sql(admin, f"SELECT count() FROM {ds}_quarantine").status_code == 200
    assert sql(admin, "SELECT count() FROM tinybird.datasources_ops_log").status_code == 200
    assert sql(admin, "SELECT count() FROM tinybird.pipe_stats_rt").status_code == 200


def test_filtered_token_cannot_read_service_tables_or_others(admin, server, ds, unique):  # type: ignore[no-untyped-def]
    tk = admin.post("/v0/tokens", params={"name": unique, "scope": f"DATASOURCES:READ:{ds}:user_id = 2"}).json()
    with server.client(tk["token"]) as c:
        assert sql(c, "SELECT * FROM tinybird.pipe_stats_rt").status_code == 403
        assert sql(c, "SELECT * FROM tinybird.datasources_ops_log").status_code == 403
        body = sql(c, f"SELECT DISTINCT user_id FROM {ds}").json()
        assert body["data"] == [{"user_id": 2}]
