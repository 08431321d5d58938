"""Events API over HTTP (reference §5): 202 after the rows are durably accepted, 200 with ``wait=true``
once committed; rows appear within a few seconds (functional waits, no timing assertions)."""

from __future__ import annotations

import gzip
import threading
from typing import Any

import httpx
import orjson
import pytest

from tests.ingest.helpers import counts, create, ndjson, sql, wait_for
from tests.support.server import RoostServer

SCHEMA = "`id` UInt64 `json:$.id`, `kind` String `json:$.kind`, `v` Nullable(Float64) `json:$.data.v`"


def rows(start: int, n: int) -> list[dict[str, Any]]:
    return [{"id": i, "kind": "k" + str(i % 3), "data": {"v": i / 2}} for i in range(start, start + n)]


@pytest.fixture()
def ds(admin: httpx.Client, unique: str) -> str:
    create(admin, unique, SCHEMA, engine_sorting_key="id")
    return unique


def wait_counts(admin: httpx.Client, name: str, expected: tuple[int, int]) -> tuple[int, int]:
    got: tuple[int, int] = wait_for(lambda: counts(admin, name) == expected and expected, timeout=30) or \
        counts(admin, name)
    return got


def test_ndjson_202_then_rows_appear(admin: httpx.Client, ds: str) -> None:
    r = admin.post("/v0/events", params={"name": ds}, content=ndjson(rows(0, 50)),
                   headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    assert r.json() == {"successful_rows": 50, "quarantined_rows": 0}
    assert wait_counts(admin, ds, (50, 0)) == (50, 0)
    assert sql(admin, f"SELECT sum(id) AS s, countIf(isNull(v)) AS nulls FROM {ds}") == [{"s": sum(range(50)),
                                                                                         "nulls": 0}]


def test_gzip_body(admin: httpx.Client, ds: str) -> None:
    body = gzip.compress(ndjson(rows(0, 30)))
    r = admin.post("/v0/events", params={"name": ds}, content=body,
                   headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
    assert r.status_code == 202, r.text
    assert r.json() == {"successful_rows": 30, "quarantined_rows": 0}
    r = admin.post("/v0/events", params={"name": ds, "wait": "true"}, content=body,
                   headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.json() == {"successful_rows": 30, "quarantined_rows": 0}
    assert wait_counts(admin, ds, (60, 0)) == (60, 0)


def test_single_json_object_without_newline(admin: httpx.Client, ds: str) -> None:
    r = admin.post("/v0/events", params={"name": ds}, content=b'{"id": 7, "kind": "x"}')
    assert r.status_code == 202, r.text
    assert r.json() == {"successful_rows": 1, "quarantined_rows": 0}
    assert wait_counts(admin, ds, (1, 0)) == (1, 0)


def test_python_sdk_style_no_content_type(server: RoostServer, ds: str) -> None:
    """tinybird-python-sdk: mode/format/wait in the query string, NDJSON body, no Content-Type at all."""
    body = ndjson(rows(0, 10))
    with httpx.Client(base_url=server.url) as c:
        req = c.build_request("POST", "/v0/events", params={"mode": "append", "name": ds, "format": "ndjson",
                                                             "wait": "false"},
                              content=body, headers={"Authorization": f"Bearer {server.admin_token}"})
        assert "content-type" not in req.headers
        r = c.send(req)
    assert r.status_code == 202, r.text
    assert r.json() == {"successful_rows": 10, "quarantined_rows": 0}
    with server.admin() as admin:
        assert wait_counts(admin, ds, (10, 0)) == (10, 0)


def test_curl_form_content_type_and_token_in_query(server: RoostServer, ds: str) -> None:
    r = httpx.post(f"{server.url}/v0/events", params={"name": ds, "token": server.admin_token},
                   content=b'{"id":1,"kind":"a"}\n{"id":2,"kind":"b"}\n',
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 202, r.text
    assert r.json() == {"successful_rows": 2, "quarantined_rows": 0}


def test_wait_true_gives_exact_counts(admin: httpx.Client, ds: str) -> None:
    body = ndjson(rows(0, 20)) + b'{"id": "nope", "kind": "a"}\n{"kind": "no id"}\nnot json\n'
    r = admin.post("/v0/events", params={"name": ds, "wait": "true"}, content=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"successful_rows": 20, "quarantined_rows": 3}
    assert counts(admin, ds) == (20, 3)  # committed before the answer


def test_bad_lines_without_wait_are_quarantined(admin: httpx.Client, ds: str) -> None:
    body = ndjson(rows(0, 5)) + b"not json\n[1]\n"
    r = admin.post("/v0/events", params={"name": ds}, content=body)
    assert r.status_code == 202, r.text
    assert r.json() == {"successful_rows": 5, "quarantined_rows": 2}
    assert wait_counts(admin, ds, (5, 2)) == (5, 2)
    q = sql(admin, f"SELECT c__raw, c__error FROM {ds}_quarantine ORDER BY c__raw")
    assert [x["c__raw"] for x in q] == ["[1]", "not json"]


def test_many_small_requests_are_batched(admin: httpx.Client, ds: str) -> None:
    for i in range(30):
        r = admin.post("/v0/events", params={"name": ds}, content=ndjson(rows(i * 10, 10)))
        assert r.status_code == 202
    assert wait_counts(admin, ds, (300, 0)) == (300, 0)
    assert sql(admin, f"SELECT uniqExact(id) AS u FROM {ds}") == [{"u": 300}]


def test_concurrent_clients(server: RoostServer, ds: str) -> None:
    """16 clients, 100-row batches: every row lands exactly once."""
    clients, batches, per = 16, 12, 100
    errors: list[str] = []

    def client(k: int) -> None:
        with server.admin() as c:
            for b in range(batches):
                start = (k * batches + b) * per
                r = c.post("/v0/events", params={"name": ds}, content=ndjson(rows(start, per)),
                           headers={"Content-Type": "application/x-ndjson"})
                if r.status_code != 202 or r.json() != {"successful_rows": per, "quarantined_rows": 0}:
                    errors.append(f"{r.status_code} {r.text}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = clients * batches * per
    with server.admin() as admin:
        assert wait_counts(admin, ds, (total, 0)) == (total, 0)
        assert sql(admin, f"SELECT count() AS n, uniqExact(id) AS u, min(id) AS lo, max(id) AS hi FROM {ds}") == [
            {"n": total, "u": total, "lo": 0, "hi": total - 1}]


def test_concurrent_wait_true_clients(server: RoostServer, ds: str) -> None:
    clients, per = 8, 50
    results: list[Any] = []

    def client(k: int) -> None:
        with server.admin() as c:
            r = c.post("/v0/events", params={"name": ds, "wait": "true"}, content=ndjson(rows(k * per, per)))
            results.append((r.status_code, r.json()))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [(200, {"successful_rows": per, "quarantined_rows": 0})] * clients
    with server.admin() as admin:
        assert counts(admin, ds) == (clients * per, 0)


def test_events_for_two_datasources_in_one_batch(admin: httpx.Client, ds: str, unique: str) -> None:
    other = unique + "_b"
    create(admin, other, SCHEMA)
    for i in range(5):
        assert admin.post("/v0/events", params={"name": ds}, content=ndjson(rows(i, 1))).status_code == 202
        assert admin.post("/v0/events", params={"name": other}, content=ndjson(rows(i, 2))).status_code == 202
    assert wait_counts(admin, ds, (5, 0)) == (5, 0)
    assert wait_counts(admin, other, (10, 0)) == (10, 0)


def test_unicode_and_escapes_survive(admin: httpx.Client, ds: str) -> None:
    kinds = ["ñandú", "日本語", 'quote " and \\ backslash', "tab\tnew\nline", "emoji 🐦"]
    body = b"".join(orjson.dumps({"id": i, "kind": k}) + b"\n" for i, k in enumerate(kinds))
    r = admin.post("/v0/events", params={"name": ds, "wait": "true"}, content=body)
    assert r.json() == {"successful_rows": 5, "quarantined_rows": 0}
    assert [x["kind"] for x in sql(admin, f"SELECT kind FROM {ds} ORDER BY id")] == kinds
