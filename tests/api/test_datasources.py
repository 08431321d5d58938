"""Data Sources API over HTTP (reference §4): create, describe, append in every format, quarantine,
replace, truncate, delete rows, alter, drop. Counts are exact."""

from __future__ import annotations

import gzip
import io
import re
import threading
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.ingest.helpers import append, assert_error, counts, create, info, ndjson, row_count, sql, wait_for

TS_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")

EVENTS_SCHEMA = (
    "`ts` DateTime `json:$.ts`, `uid` UInt32 `json:$.uid`, `city` String `json:$.geo.city`, "
    "`zip` Nullable(String) `json:$.geo.zip`, `items` Array(String) `json:$.items[:]`, "
    "`price` Nullable(Float64) `json:$.price`, `kind` LowCardinality(String) `json:$.kind`"
)
CSV_SCHEMA = "a UInt32, b String, c Float64"


def good_event(i: int) -> dict[str, Any]:
    return {"ts": f"2026-01-01 00:00:{i % 60:02d}", "uid": i, "geo": {"city": f"c{i % 7}", "zip": str(10000 + i)},
            "items": [f"i{i}", "x"], "price": i / 4, "kind": ["a", "b"][i % 2]}


@pytest.fixture()
def events_ds(admin: httpx.Client, unique: str) -> str:
    create(admin, unique, EVENTS_SCHEMA, engine_sorting_key="uid, ts")
    return unique


@pytest.fixture()
def csv_ds(admin: httpx.Client, unique: str) -> str:
    create(admin, unique, CSV_SCHEMA)
    return unique


# --- create / describe ----------------------------------------------------------------------------
def test_create_from_schema_with_types_and_jsonpaths(admin: httpx.Client, unique: str) -> None:
    schema = (
        "`id` UInt64 `json:$.id`, `name` LowCardinality(String) `json:$.user.name`, "
        "`deep` Nullable(Int16) `json:$.a.b.c`, `tags` Array(String) `json:$.tags[:]`, "
        "`nums` Array(Int32) `json:$.nums[:]`, `at` DateTime64(3, 'UTC') `json:$.at`, "
        "`amount` Decimal(18, 4) `json:$.amount`, `attrs` Map(String, String) `json:$.attrs`, "
        "`flag` Bool `json:$.flag`, `u` UUID `json:$.u`, `d` Date DEFAULT today() `json:$.d`, "
        "`note` String DEFAULT 'none' `json:$.note`"
    )
    r = admin.post("/v0/datasources", data={"name": unique, "schema": schema, "engine_sorting_key": "id"})
    assert r.status_code == 200, r.text
    ds = r.json()["datasource"]
    assert ds["name"] == unique and ds["id"].startswith("t_") and len(ds["id"]) == 34
    assert ds["type"] == "ndjson"
    cols = {c["name"]: c for c in ds["columns"]}
    assert list(cols) == ["id", "name", "deep", "tags", "nums", "at", "amount", "attrs", "flag", "u", "d", "note"]
    assert cols["name"]["type"] == "LowCardinality(String)" and cols["name"]["jsonpath"] == "$.user.name"
    assert cols["deep"]["nullable"] is True and cols["deep"]["jsonpath"] == "$.a.b.c"
    assert cols["tags"]["type"] == "Array(String)" and cols["tags"]["jsonpath"] == "$.tags[:]"
    assert cols["at"]["type"] == "DateTime64(3, 'UTC')"
    assert cols["amount"]["type"] == "Decimal(18, 4)"
    assert cols["d"]["default_value"] == "today()" and cols["note"]["default_value"] == "'none'"
    assert ds["schema"]["sql_schema"].startswith("`id` UInt64 `json:$.id`, `name` LowCardinality(String)")
    assert ds["engine"]["engine"] == "MergeTree" and ds["engine"]["sorting_key"] == "id"
    assert ds["statistics"] == {"bytes": 0, "row_count": 0}
    assert ds["quarantine_rows"] == 0
    assert TS_RE.match(ds["created_at"]) and TS_RE.match(ds["updated_at"])

    rows = [
        {"id": 1, "user": {"name": "ann"}, "a": {"b": {"c": -3}}, "tags": ["x", "y"], "nums": [1, 2],
         "at": "2026-01-02 03:04:05.678", "amount": "12.3456", "attrs": {"k": "v"}, "flag": True,
         "u": "550e8400-e29b-41d4-a716-446655440000", "d": "2026-02-03", "note": "hi"},
        {"id": 2, "user": {"name": "bob"}, "tags": [], "nums": [], "at": "2026-01-02T03:04:05Z",
         "amount": 1, "attrs": {}, "flag": False, "u": "550e8400-e29b-41d4-a716-446655440001"},
    ]
    res = append(admin, unique, ndjson(rows), fmt="ndjson")
    assert (res["successful_rows"], res["quarantined_rows"]) == (2, 0), res
    got = sql(admin, f"SELECT id, name, deep, tags, nums, toString(at) AS at, toString(amount) AS amount, attrs, "
                     f"flag, toString(u) AS u, d = today() AS d_default, note FROM {unique} ORDER BY id")
    assert got[0] == {"id": 1, "name": "ann", "deep": -3, "tags": ["x", "y"], "nums": [1, 2],
                      "at": "2026-01-02 03:04:05.678", "amount": "12.3456", "attrs": {"k": "v"}, "flag": True,
                      "u": "550e8400-e29b-41d4-a716-446655440000", "d_default": 0, "note": "hi"}
    assert got[1]["deep"] is None and got[1]["d_default"] == 1 and got[1]["note"] == "none"
    assert got[1]["at"] == "2026-01-02 03:04:05.000"


ENGINES = [
    pytest.param(
        "`ts` DateTime `json:$.ts`, `k` String `json:$.k`, `v` UInt64 `json:$.v`",
        {"engine": "MergeTree", "engine_sorting_key": "k, ts", "engine_partition_key": "toYYYYMM(ts)",
         "engine_ttl": "ts + INTERVAL 3650 DAY"},
        {"engine": "MergeTree", "sorting_key": "k, ts", "partition_key": "toYYYYMM(ts)"},
        ["MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (k, ts) TTL ts + INTERVAL '3650' DAY"],
        id="MergeTree",
    ),
    pytest.param(
        "`ts` DateTime `json:$.ts`, `k` String `json:$.k`, `v` UInt64 `json:$.v`",
        {"engine": "ReplacingMergeTree", "engine_sorting_key": "k", "engine_ver": "v"},
        {"engine": "ReplacingMergeTree", "sorting_key": "k", "ver": "v"},
        ["ReplacingMergeTree(`v`) ORDER BY k"],
        id="ReplacingMergeTree",
    ),
    pytest.param(
        "`ts` DateTime `json:$.ts`, `k` String `json:$.k`, `v` UInt64 `json:$.v`",
        {"engine": "SummingMergeTree", "engine_sorting_key": "k, ts"},
        {"engine": "SummingMergeTree", "sorting_key": "k, ts"},
        ["SummingMergeTree ORDER BY (k, ts)"],
        id="SummingMergeTree",
    ),
    pytest.param(
        "`ts` DateTime `json:$.ts`, `k` String `json:$.k`, `v` SimpleAggregateFunction(sum, UInt64) `json:$.v`, "
        "`uniq_state` AggregateFunction(uniq, String), `avg_state` AggregateFunction(avg, Float64)",
        {"engine": "AggregatingMergeTree", "engine_sorting_key": "k, ts"},
        {"engine": "AggregatingMergeTree", "sorting_key": "k, ts"},
        ["AggregatingMergeTree ORDER BY (k, ts)"],
        id="AggregatingMergeTree",
    ),
    pytest.param(
        "`ts` DateTime `json:$.ts`, `k` String `json:$.k`, `v` UInt64 `json:$.v`, `sign` Int8 `json:$.sign`",
        {"engine": "CollapsingMergeTree", "engine_sorting_key": "k", "engine_sign": "sign"},
        {"engine": "CollapsingMergeTree", "sorting_key": "k", "sign": "sign"},
        ["CollapsingMergeTree(`sign`) ORDER BY k"],
        id="CollapsingMergeTree",
    ),
]


@pytest.mark.parametrize(("schema", "params", "expect", "engine_full"), ENGINES)
def test_create_every_mergetree_engine(admin: httpx.Client, unique: str, schema: str, params: dict[str, str],
                                       expect: dict[str, str], engine_full: list[str]) -> None:
    ds = create(admin, unique, schema, **params)
    for k, v in expect.items():
        assert ds["engine"][k] == v, ds["engine"]
    assert ds["engine"]["engine_full"] in engine_full
    rows = [{"ts": "2026-01-01 00:00:00", "k": "a", "v": 1, "sign": 1}, {"ts": "2026-01-01 00:00:01", "k": "b", "v": 2,
                                                                           "sign": 1}]
    res = append(admin, unique, ndjson(rows), fmt="ndjson")
    assert (res["successful_rows"], res["quarantined_rows"]) == (2, 0), res
    assert counts(admin, unique) == (2, 0)


def test_list_and_get(admin: httpx.Client, events_ds: str) -> None:
    append(admin, events_ds, ndjson([good_event(i) for i in range(5)]), fmt="ndjson")
    append(admin, events_ds, b'{"uid": 1}\n', fmt="ndjson")  # missing non-nullable columns: quarantine
    r = admin.get("/v0/datasources")
    assert r.status_code == 200
    items = {d["name"]: d for d in r.json()["datasources"]}
    d = items[events_ds]
    for key in ("id", "name", "columns", "engine", "statistics", "created_at", "updated_at", "quarantine_rows",
                "schema", "type", "used_by", "description"):
        assert key in d, key
    assert d["statistics"]["row_count"] == 5 and d["statistics"]["bytes"] > 0
    assert d["quarantine_rows"] == 1
    assert TS_RE.match(d["created_at"]) and TS_RE.match(d["updated_at"])
    one = info(admin, events_ds)
    assert one["id"] == d["id"] and one["statistics"]["row_count"] == 5 and one["quarantine_rows"] == 1
    # by id too, and attrs limits the keys of the list
    assert info(admin, d["id"])["name"] == events_ds
    r = admin.get("/v0/datasources", params={"attrs": "name,statistics"})
    only = next(x for x in r.json()["datasources"] if x["name"] == events_ds)
    assert set(only) == {"name", "statistics"}


def test_datasource_datafile_text(admin: httpx.Client, unique: str) -> None:
    create(admin, unique, "`a` UInt32 `json:$.a`, `b` String `json:$.x.b`", engine_sorting_key="a",
           description="hello")
    r = admin.get(f"/v0/datasources/{unique}.datasource")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "SCHEMA >" in text and "`a` UInt32 `json:$.a`" in text and "`b` String `json:$.x.b`" in text
    assert 'ENGINE "MergeTree"' in text and 'ENGINE_SORTING_KEY "a"' in text


# --- append: NDJSON in every way clients send it ---------------------------------------------------
NDJSON_WAYS = ["raw-no-content-type", "raw-x-ndjson", "raw-form-urlencoded", "raw-text-plain", "multipart-ndjson",
               "multipart-csv-part-format-ndjson", "v1-append"]


@pytest.mark.parametrize("way", NDJSON_WAYS)
def test_append_ndjson(admin: httpx.Client, events_ds: str, way: str) -> None:
    body = ndjson([good_event(i) for i in range(40)]) + b'{"uid": "bad"}\nnot json\n'
    q: dict[str, str] = {"mode": "append", "name": events_ds}
    kw: dict[str, Any] = {}
    if way == "raw-no-content-type":
        kw["content"] = body
    elif way == "raw-x-ndjson":
        kw = {"content": body, "headers": {"Content-Type": "application/x-ndjson; charset=utf-8"}}
        q["format"] = "ndjson"
    elif way == "raw-form-urlencoded":  # curl --data-binary @file without -H
        kw = {"content": body, "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
        q["format"] = "ndjson"
    elif way == "raw-text-plain":
        kw = {"content": body, "headers": {"Content-Type": "text/plain; charset=utf-8"}}
        q["format"] = "ndjson"
    elif way == "multipart-ndjson":  # tb datasource append
        kw["files"] = {"ndjson": ("ndjson", body)}
        q["format"] = "ndjson"
    elif way == "multipart-csv-part-format-ndjson":  # the npm SDK always names the part csv
        kw["files"] = {"csv": ("events.ndjson", body, "application/octet-stream")}
        q["format"] = "ndjson"
    if way == "v1-append":
        r = admin.post(f"/v1/datasources/{events_ds}/append", params={"format": "ndjson"}, content=body,
                       headers={"Content-Type": "application/x-ndjson"})
    else:
        r = admin.post("/v0/datasources", params=q, **kw)
    assert r.status_code == 200, r.text
    res = r.json()
    assert (res["successful_rows"], res["quarantined_rows"]) == (40, 2), res
    assert res["invalid_lines"] == 2 and res["quarantine_rows"] == 2
    assert res["datasource"]["name"] == events_ds
    assert res["import_id"] and res["error"]
    assert counts(admin, events_ds) == (40, 2)


def test_append_with_schema_creates_the_datasource(admin: httpx.Client, unique: str) -> None:
    """Classic: ``mode=append`` with a schema creates a missing data source; without one it is a 404."""
    r = admin.post("/v0/datasources", params={"mode": "append", "name": unique, "format": "ndjson"},
                   content=b'{"a":1}\n')
    assert_error(r, 404, unique)
    r = admin.post("/v0/datasources", params={"mode": "append", "name": unique, "format": "ndjson",
                                              "schema": "`a` UInt8 `json:$.a`"}, content=b'{"a":1}\n{"a":2}\n')
    assert r.status_code == 200, r.text
    assert r.json()["successful_rows"] == 2
    assert counts(admin, unique) == (2, 0)


def test_append_response_shape_without_errors(admin: httpx.Client, events_ds: str) -> None:
    res = append(admin, events_ds, ndjson([good_event(1)]), fmt="ndjson")
    assert res["error"] is False
    assert res["errors"] == []
    assert res["datasource"]["statistics"]["row_count"] == 1


def test_append_blank_lines_and_crlf_are_not_rows(admin: httpx.Client, events_ds: str) -> None:
    body = b"\n" + orjson.dumps(good_event(1)) + b"\r\n\r\n   \n" + orjson.dumps(good_event(2)) + b"\r\n\t\n"
    res = append(admin, events_ds, body, fmt="ndjson")
    assert (res["successful_rows"], res["quarantined_rows"]) == (2, 0), res


def test_append_gzip_ndjson(admin: httpx.Client, events_ds: str) -> None:
    body = gzip.compress(ndjson([good_event(i) for i in range(25)]))
    res = append(admin, events_ds, body, fmt="ndjson", headers={"Content-Encoding": "gzip"})
    assert (res["successful_rows"], res["quarantined_rows"]) == (25, 0)
    # a gzip body is recognised without the header too
    res = append(admin, events_ds, body, fmt="ndjson")
    assert (res["successful_rows"], res["quarantined_rows"]) == (25, 0)
    assert counts(admin, events_ds) == (50, 0)


def test_append_identical_bodies_twice_lands_twice(admin: httpx.Client, events_ds: str) -> None:
    """Tables keep a deduplication window for the Events API log; ordinary appends must not use it."""
    body = ndjson([good_event(i) for i in range(10)])
    append(admin, events_ds, body, fmt="ndjson")
    append(admin, events_ds, body, fmt="ndjson")
    assert counts(admin, events_ds) == (20, 0)


def test_append_large_body_streams(admin: httpx.Client, unique: str) -> None:
    create(admin, unique, "`id` UInt32 `json:$.id`, `s` String `json:$.s`, `f` Float64 `json:$.f`",
           engine_sorting_key="id")
    n = 200_000
    body = b"".join(b'{"id":%d,"s":"row-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","f":%d.5}\n' % (i, i, i) for i in range(n))
    bad_at = {17, 123_456, 199_999}
    lines = body.split(b"\n")
    for i in bad_at:
        lines[i] = b'{"id":"not a number","s":"x","f":1}'
    body = b"\n".join(lines)

    def pieces() -> Any:
        for i in range(0, len(body), 1 << 20):
            yield body[i:i + (1 << 20)]

    r = admin.post("/v0/datasources", params={"mode": "append", "name": unique, "format": "ndjson"},
                   content=pieces(), headers={"Content-Length": str(len(body))}, timeout=300)
    assert r.status_code == 200, r.text
    res = r.json()
    assert (res["successful_rows"], res["quarantined_rows"]) == (n - 3, 3), res
    assert counts(admin, unique) == (n - 3, 3)
    got = sql(admin, f"SELECT count() AS n, uniqExact(id) AS u, sum(id) AS s FROM {unique}")[0]
    assert got["n"] == n - 3 and got["u"] == n - 3
    assert int(got["s"]) == sum(range(n)) - sum(bad_at)
    # the messages name the line of the first bad rows
    assert any(e.startswith("line 18:") for e in res["errors"]), res["errors"]


# --- append: CSV ----------------------------------------------------------------------------------
CSV_CASES = [
    pytest.param(b"a,b,c\n1,x,1.5\n2,y,2.5\n3,\"q, r\",3\n", {}, 3, 0, id="header"),
    pytest.param(b"1,x,1.5\n2,y,2.5\n", {}, 2, 0, id="no-header"),
    pytest.param(b"c,a,b\n1.5,1,x\n2.5,2,y\n", {}, 2, 0, id="header-other-order"),
    pytest.param(b"1;x;1.5\n2;y;2.5\n3;z;3\n", {"dialect_delimiter": ";"}, 3, 0, id="semicolon"),
    pytest.param(b"a\tb\tc\n1\tx\t1.5\n2\ty\t2.5\n", {"dialect_delimiter": "\t"}, 2, 0, id="tab"),
    pytest.param(b"1\tx\t1.5\n2\ty\t2.5\n", {"dialect_delimiter": "\\t"}, 2, 0, id="escaped-tab"),
    pytest.param(b"1,x,1.5\nnope,y,2\n2,z\n3,w,3\n4,v,4,extra\n", {}, 2, 3, id="bad-rows"),
    pytest.param(b"a,b,c\r\n1,x,1.5\r\n2,y,2.5\r\n", {}, 2, 0, id="crlf"),
]


@pytest.mark.parametrize(("body", "params", "ok", "bad"), CSV_CASES)
def test_append_csv(admin: httpx.Client, csv_ds: str, body: bytes, params: dict[str, str], ok: int,
                    bad: int) -> None:
    res = append(admin, csv_ds, body, **params)
    assert (res["successful_rows"], res["quarantined_rows"]) == (ok, bad), res
    assert counts(admin, csv_ds) == (ok, bad)


def test_append_csv_values(admin: httpx.Client, csv_ds: str) -> None:
    append(admin, csv_ds, b"c,a,b\n1.5,1,\"x, \"\"y\"\"\"\n", format="csv")
    assert sql(admin, f"SELECT a, b, c FROM {csv_ds}") == [{"a": 1, "b": 'x, "y"', "c": 1.5}]


def test_append_gzip_csv(admin: httpx.Client, csv_ds: str) -> None:
    body = gzip.compress(b"a,b,c\n" + b"".join(b"%d,s%d,%d.25\n" % (i, i, i) for i in range(1000)))
    res = append(admin, csv_ds, body, headers={"Content-Encoding": "gzip"})
    assert (res["successful_rows"], res["quarantined_rows"]) == (1000, 0)
    r = admin.post("/v0/datasources", params={"mode": "append", "name": csv_ds, "format": "csv"},
                   files={"csv": ("data.csv.gz", body, "application/gzip")})
    assert r.status_code == 200, r.text
    assert (r.json()["successful_rows"], r.json()["quarantined_rows"]) == (1000, 0)
    assert counts(admin, csv_ds) == (2000, 0)


def test_append_csv_multipart_with_form_fields(admin: httpx.Client, csv_ds: str) -> None:
    r = admin.post("/v0/datasources", params={"mode": "append", "name": csv_ds},
                   data={"dialect_delimiter": ";", "format": "csv"}, files={"csv": ("csv", b"1;x;1\n2;y;2\n")})
    assert r.status_code == 200, r.text
    assert (r.json()["successful_rows"], r.json()["quarantined_rows"]) == (2, 0)


# --- append: Parquet -----------------------------------------------------------------------------
def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def test_append_parquet(admin: httpx.Client, unique: str) -> None:
    create(admin, unique, "`id` UInt32 `json:$.id`, `name` String `json:$.name`, `score` Nullable(Float64) "
                          "`json:$.score`, `tags` Array(String) `json:$.tags`", engine_sorting_key="id")
    t = pa.table({
        "id": pa.array([1, 2, 3, None], pa.uint32()),
        "name": pa.array(["a", "b", None, "d"]),
        "score": pa.array([1.5, None, 3.0, 4.0]),
        "tags": pa.array([["x"], [], ["y", "z"], []], pa.list_(pa.string())),
        "extra": pa.array([1, 2, 3, 4]),
    })
    body = _parquet(t)
    res = append(admin, unique, body, fmt="parquet")
    assert (res["successful_rows"], res["quarantined_rows"]) == (2, 2), res
    got = sql(admin, f"SELECT id, name, score, tags FROM {unique} ORDER BY id")
    assert got == [{"id": 1, "name": "a", "score": 1.5, "tags": ["x"]}, {"id": 2, "name": "b", "score": None,
                                                                           "tags": []}]
    # sniffed without format=, and as a multipart part
    res = append(admin, unique, body)
    assert (res["successful_rows"], res["quarantined_rows"]) == (2, 2)
    r = admin.post("/v0/datasources", params={"mode": "append", "name": unique, "format": "parquet"},
                   files={"parquet": ("x.parquet", body)})
    assert (r.json()["successful_rows"], r.json()["quarantined_rows"]) == (2, 2), r.text
    assert counts(admin, unique) == (6, 6)
    q = sql(admin, f"SELECT id, name, c__error_column, c__import_id FROM {unique}_quarantine "
                   f"WHERE c__import_id = '{res['import_id']}' ORDER BY c__error_column")
    assert [x["c__error_column"] for x in q] == [["id"], ["name"]]


# --- quarantine content -------------------------------------------------------------------------------
def test_quarantine_content_ndjson(admin: httpx.Client, events_ds: str) -> None:
    bad_type = '{"ts":"2026-01-01 00:00:00","uid":"abc","geo":{"city":"x"},"kind":"a"}'
    missing = '{"ts":"2026-01-01 00:00:00","uid":5,"kind":"a"}'
    malformed = '{"ts":"2026-01-01 00:00:00","uid":6,'
    not_object = '[1, 2, 3]'
    bad_nullable = '{"ts":"2026-01-01 00:00:00","uid":7,"geo":{"city":"x"},"kind":"a","price":"cheap"}'
    bad_array = '{"ts":"2026-01-01 00:00:00","uid":8,"geo":{"city":"x"},"kind":"a","items":"nope"}'
    body = "\n".join([orjson.dumps(good_event(1)).decode(), bad_type, missing, malformed, not_object, bad_nullable,
                      bad_array, orjson.dumps(good_event(2)).decode()]) + "\n"
    res = append(admin, events_ds, body.encode(), fmt="ndjson")
    assert (res["successful_rows"], res["quarantined_rows"]) == (2, 6), res
    rows = sql(admin, f"SELECT uid, city, price, c__error_column, c__error, c__import_id, c__raw, insertion_date "
                      f"FROM {events_ds}_quarantine")
    by_raw = {r["c__raw"]: r for r in rows}
    assert set(by_raw) == {bad_type, missing, malformed, not_object, bad_nullable, bad_array}
    assert all(r["c__import_id"] == res["import_id"] for r in rows)
    assert by_raw[bad_type]["c__error_column"] == ["uid"]
    assert by_raw[bad_type]["c__error"] == ["value 'abc' on column 'uid' is not UInt32"]
    assert by_raw[bad_type]["uid"] == "abc" and by_raw[bad_type]["city"] == "x"
    assert by_raw[missing]["c__error_column"] == ["city"]
    assert "column 'city'" in by_raw[missing]["c__error"][0] and "missing" in by_raw[missing]["c__error"][0]
    assert by_raw[missing]["uid"] == "5"
    assert by_raw[malformed]["c__error"] == ["the row is not valid JSON"]
    assert by_raw[not_object]["c__error"] == ["the row is not a JSON object"]
    assert by_raw[bad_nullable]["c__error"] == ["value 'cheap' on column 'price' is not Nullable(Float64)"]
    assert by_raw[bad_array]["c__error_column"] == ["items"]
    # the response names the lines
    errors = " | ".join(res["errors"])
    for line_no in (2, 3, 4, 5, 6, 7):
        assert f"line {line_no}:" in errors, errors


def test_quarantine_content_csv(admin: httpx.Client, csv_ds: str) -> None:
    res = append(admin, csv_ds, b"a,b,c\n1,x,1.5\nnope,y,2.5\n3,z\n4,w,4\n")
    assert (res["successful_rows"], res["quarantined_rows"]) == (2, 2), res
    rows = sql(admin, f"SELECT c__raw, c__error, c__import_id FROM {csv_ds}_quarantine ORDER BY c__raw")
    assert [r["c__raw"] for r in rows] == ["3,z", "nope,y,2.5"]
    assert all(r["c__import_id"] == res["import_id"] for r in rows)
    assert rows[0]["c__error"] == ["row 3: wrong number of fields: expected 3, got 2"]
    assert rows[1]["c__error"][0].startswith("row 2:") and "nope" in rows[1]["c__error"][0]


def test_quarantine_is_truncatable_and_queryable(admin: httpx.Client, events_ds: str) -> None:
    append(admin, events_ds, b'{"uid": 1}\n{"uid": 2}\n', fmt="ndjson")
    assert counts(admin, events_ds) == (0, 2)
    assert sql(admin, f"SELECT count() AS n FROM {events_ds}_quarantine") == [{"n": 2}]
    r = admin.post(f"/v0/datasources/{events_ds}_quarantine/truncate")
    assert r.status_code == 205 and r.content == b""
    assert counts(admin, events_ds) == (0, 0)


# --- replace ------------------------------------------------------------------------------------
def test_replace_is_atomic(admin: httpx.Client, server: Any, unique: str) -> None:
    """Readers polling row_count during replaces only ever see the old or the new count."""
    create(admin, unique, "`id` UInt32 `json:$.id`, `s` String `json:$.s`", engine_sorting_key="id")
    big, small = 30_000, 12_345
    body_big = b"".join(b'{"id":%d,"s":"old"}\n' % i for i in range(big))
    body_small = b"".join(b'{"id":%d,"s":"new"}\n' % i for i in range(small))
    append(admin, unique, body_big, fmt="ndjson")
    seen: set[int] = set()
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        with server.admin() as c:
            while not stop.is_set():
                r = c.get(f"/v0/datasources/{unique}")
                if r.status_code != 200:
                    errors.append(r.text)
                    return
                seen.add(r.json()["statistics"]["row_count"])

    t = threading.Thread(target=reader)
    t.start()
    try:
        for body, n in ((body_small, small), (body_big, big), (body_small, small)):
            res = append(admin, unique, body, fmt="ndjson", mode="replace")
            assert (res["successful_rows"], res["quarantined_rows"]) == (n, 0)
    finally:
        stop.set()
        t.join()
    assert errors == []
    assert seen <= {big, small}, seen
    assert row_count(admin, unique) == small
    assert sql(admin, f"SELECT DISTINCT s FROM {unique}") == [{"s": "new"}]
    # appends after a replace land in the new table
    append(admin, unique, body_small, fmt="ndjson")
    assert row_count(admin, unique) == 2 * small


def test_replace_csv_and_quarantine(admin: httpx.Client, csv_ds: str) -> None:
    append(admin, csv_ds, b"1,a,1\n2,b,2\n3,c,3\n")
    res = append(admin, csv_ds, b"9,z,9\nbad,z,9\n", mode="replace")
    assert (res["successful_rows"], res["quarantined_rows"]) == (1, 1)
    assert counts(admin, csv_ds) == (1, 1)
    assert sql(admin, f"SELECT a FROM {csv_ds}") == [{"a": 9}]


def test_replace_with_empty_body(admin: httpx.Client, csv_ds: str) -> None:
    append(admin, csv_ds, b"1,a,1\n")
    r = admin.post("/v0/datasources", params={"mode": "replace", "name": csv_ds}, content=b"")
    assert_error(r, 400, "replace_truncate_when_empty")
    assert row_count(admin, csv_ds) == 1
    r = admin.post("/v0/datasources", params={"mode": "replace", "name": csv_ds,
                                              "replace_truncate_when_empty": "true"}, content=b"")
    assert r.status_code == 200, r.text
    assert row_count(admin, csv_ds) == 0


# --- truncate / delete / drop ---------------------------------------------------------------------
def test_truncate(admin: httpx.Client, csv_ds: str) -> None:
    append(admin, csv_ds, b"1,a,1\n2,b,2\nx,y,z\n")
    assert counts(admin, csv_ds) == (2, 1)
    r = admin.post(f"/v0/datasources/{csv_ds}/truncate")
    assert r.status_code == 205
    assert r.content == b""
    assert counts(admin, csv_ds) == (0, 1)  # the quarantine is separate
    r = admin.post(f"/v0/datasources/{csv_ds}_quarantine/truncate")
    assert r.status_code == 205 and r.content == b""
    assert counts(admin, csv_ds) == (0, 0)


def test_delete_rows_job(admin: httpx.Client, csv_ds: str) -> None:
    append(admin, csv_ds, b"".join(b"%d,%s,%d\n" % (i, b"even" if i % 2 == 0 else b"odd", i) for i in range(100)))
    r = admin.post(f"/v0/datasources/{csv_ds}/delete", data={"delete_condition": "b = 'even' AND a < 50",
                                                             "dry_run": "true"})
    assert r.status_code == 200, r.text
    assert r.json() == {"rows_to_be_deleted": 25}
    assert row_count(admin, csv_ds) == 100
    r = admin.post(f"/v0/datasources/{csv_ds}/delete", data={"delete_condition": "b = 'even' AND a < 50"})
    assert r.status_code == 201, r.text
    env = r.json()
    assert env["id"] == env["job_id"] == env["job"]["id"]
    assert env["job_url"].endswith(f"/v0/jobs/{env['id']}")
    assert env["status"] in ("waiting", "working", "done")
    assert env["job"]["kind"] == "delete_data"
    assert env["job"]["delete_condition"] == "b = 'even' AND a < 50"
    assert env["job"]["datasource"]["name"] == csv_ds

    def done() -> dict[str, Any] | None:
        j = admin.get(f"/v0/jobs/{env['id']}").json()
        return j if j["status"] in ("done", "error") else None

    job = wait_for(done, timeout=60)
    assert job is not None and job["status"] == "done", job
    assert job["rows_affected"] == 25
    assert row_count(admin, csv_ds) == 75
    assert any(j["id"] == env["id"] for j in admin.get("/v0/jobs").json()["jobs"])


def test_drop(admin: httpx.Client, csv_ds: str) -> None:
    append(admin, csv_ds, b"1,a,1\nbad,b,2\n")
    r = admin.delete(f"/v0/datasources/{csv_ds}", params={"dry_run": "true"})
    assert r.status_code == 200 and r.json() == {"dependent_pipes": []}
    r = admin.delete(f"/v0/datasources/{csv_ds}")
    assert r.status_code == 204 and r.content == b""
    assert_error(admin.get(f"/v0/datasources/{csv_ds}"), 404, csv_ds)
    assert csv_ds not in {d["name"] for d in admin.get("/v0/datasources").json()["datasources"]}
    # the name can be used again, and starts empty
    create(admin, csv_ds, CSV_SCHEMA)
    assert counts(admin, csv_ds) == (0, 0)


# --- alter ----------------------------------------------------------------------------------------
def test_alter_adds_columns(admin: httpx.Client, events_ds: str) -> None:
    append(admin, events_ds, ndjson([good_event(1)]), fmt="ndjson")
    new_schema = EVENTS_SCHEMA + ", `country` LowCardinality(String) DEFAULT 'xx' `json:$.geo.country`, " \
                                 "`score` Nullable(Int32) `json:$.score`"
    r = admin.post(f"/v0/datasources/{events_ds}/alter", data={"schema": new_schema, "dry": "true"})
    assert r.status_code == 200, r.text
    ops = r.json()["operations"]
    assert ops == ["ADD COLUMN `country` LowCardinality(String) DEFAULT 'xx'", "ADD COLUMN `score` Nullable(Int32)"]
    assert [c["name"] for c in info(admin, events_ds)["columns"]][-1] == "kind"  # dry: nothing changed
    r = admin.post(f"/v0/datasources/{events_ds}/alter", data={"schema": new_schema})
    assert r.status_code == 200, r.text
    assert r.json()["operations"] == ops
    d = info(admin, events_ds)
    assert [c["name"] for c in d["columns"]][-2:] == ["country", "score"]
    assert d["version"] == 1
    # old rows get the default; new rows fill the new columns; the quarantine has the columns too
    e = good_event(2)
    e["geo"]["country"] = "es"
    e["score"] = 7
    res = append(admin, events_ds, ndjson([e, {"uid": 3, "geo": {"country": "fr"}}]), fmt="ndjson")
    assert (res["successful_rows"], res["quarantined_rows"]) == (1, 1)
    assert sql(admin, f"SELECT uid, country, score FROM {events_ds} ORDER BY uid") == [
        {"uid": 1, "country": "xx", "score": None}, {"uid": 2, "country": "es", "score": 7}]
    assert sql(admin, f"SELECT country, score FROM {events_ds}_quarantine") == [{"country": "fr", "score": None}]
    # nothing to change is a 400; so is changing an existing column
    assert_error(admin.post(f"/v0/datasources/{events_ds}/alter", data={"schema": new_schema}), 400)
    changed = new_schema.replace("`uid` UInt32", "`uid` UInt64")
    assert_error(admin.post(f"/v0/datasources/{events_ds}/alter", data={"schema": changed}), 400, "uid")
    assert_error(admin.post(f"/v0/datasources/{events_ds}/alter", data={}), 400)


def test_alter_ttl(admin: httpx.Client, unique: str) -> None:
    create(admin, unique, "`ts` DateTime `json:$.ts`, `a` UInt8 `json:$.a`", engine_sorting_key="ts")
    r = admin.post(f"/v0/datasources/{unique}/alter", data={"ttl": "ts + INTERVAL 30 DAY"})
    assert r.status_code == 200, r.text
    assert r.json()["operations"] == ["MODIFY TTL ts + INTERVAL '30' DAY"]
    assert info(admin, unique)["engine"]["ttl"] == "ts + INTERVAL '30' DAY"
    r = admin.post(f"/v0/datasources/{unique}/alter", data={"ttl": "false"})
    assert r.status_code == 200 and r.json()["operations"] == ["REMOVE TTL"]
    assert "ttl" not in info(admin, unique)["engine"]
