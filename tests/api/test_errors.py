"""Bad input gets the right 4xx and one JSON error shape that names the problem; nothing gives a 500.

Each row of ``CASES`` is (id, request, status, words the message must contain). The data sources
``err_csv`` and ``err_json`` exist for the cases that need one. A hypothesis test then throws random
create parameters and bodies at the server and only asks for a status below 500.
"""

from __future__ import annotations

import gzip
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.helpers import assert_error, create
from tests.support.server import RoostServer

CSV = "err_csv"
JSON = "err_json"
OK_SCHEMA = "a UInt32, b String"


@pytest.fixture(scope="module")
def client(server: RoostServer) -> Iterator[httpx.Client]:
    with server.admin() as c:
        for name, schema in ((CSV, OK_SCHEMA), (JSON, "`a` UInt32 `json:$.a`, `b` String `json:$.b`")):
            if c.get(f"/v0/datasources/{name}").status_code == 404:
                create(c, name, schema)
        yield c


Req = Callable[[httpx.Client], httpx.Response]


_n = iter(range(1_000_000))


def create_req(**fields: str) -> Req:
    """A create request; each case has its own name, so one wrongly accepted case cannot hide another."""
    data = {"name": f"err_new{next(_n)}", "schema": OK_SCHEMA, **fields}
    return lambda c: c.post("/v0/datasources", data={k: v for k, v in data.items() if v is not None})


def append_req(body: bytes, headers: dict[str, str] | None = None, **params: str) -> Req:
    q = {"mode": "append", "name": CSV, **params}
    return lambda c: c.post("/v0/datasources", params=q, content=body, headers=headers or {})


def events_req(body: bytes, headers: dict[str, str] | None = None, name: str = JSON) -> Req:
    return lambda c: c.post("/v0/events", params={"name": name}, content=body, headers=headers or {})


def delete_req(cond: str | None, name: str = CSV) -> Req:
    data = {} if cond is None else {"delete_condition": cond}
    return lambda c: c.post(f"/v0/datasources/{name}/delete", data=data)


MULTIPART_BAD = b"--nope\r\nContent-Disposition: form-data; name=\"csv\"\r\n\r\n1,a"

CASES: list[tuple[str, Req, int, list[str]]] = [
    # --- create: schema
    ("bad type", create_req(schema="a Strng"), 400, ["Strng"]),
    ("bad type in composite", create_req(schema="a Array(Foo)"), 400, ["Array(Foo)"]),
    ("type with subquery", create_req(schema="a Array((SELECT 1))"), 400, ["type"]),
    ("column name with dash", create_req(schema="`a-b` String"), 400, ["a-b"]),
    ("column name starting with digit", create_req(schema="1abc String"), 400, ["1abc"]),
    ("column without type", create_req(schema="a"), 400, ["type"]),
    ("jsonpath without column", create_req(schema="`json:$.a`"), 400, ["name"]),  # found by the fuzzer
    ("duplicated column", create_req(schema="a UInt8, a String"), 400, ["duplicated", "a"]),
    ("empty schema", create_req(schema=" , "), 400, ["schema"]),
    ("missing schema", create_req(schema=None), 400, ["schema"]),  # type: ignore[arg-type]
    ("unbalanced schema", create_req(schema="a Array(String"), 400, ["schema"]),
    ("bad jsonpath", create_req(schema="a String `json:a.b`"), 400, ["JSONPath", "a.b"]),
    ("bad jsonpath syntax", create_req(schema="a String `json:$..b`"), 400, ["JSONPath"]),
    ("whole-row jsonpath into a number", create_req(schema="a UInt8 `json:$`"), 400, ["String"]),
    ("bad codec", create_req(schema="a String CODEC(ZSTD(1)); DROP TABLE x"), 400, ["CODEC"]),
    ("default with subquery", create_req(schema="a UInt8 DEFAULT (SELECT 1)"), 400, ["DEFAULT"]),
    ("default with forbidden function", create_req(schema="a String DEFAULT file('/etc/passwd')"), 400,
     ["file"]),
    ("unsupported column option", create_req(schema="a UInt8 MATERIALIZED 1"), 400, ["MATERIALIZED"]),
    # --- create: names
    ("reserved name", create_req(name="select"), 400, ["select", "reserved"]),
    ("reserved name system", create_req(name="system"), 400, ["system"]),
    ("reserved name tinybird", create_req(name="tinybird"), 400, ["tinybird"]),
    ("name with dash", create_req(name="bad-name"), 400, ["bad-name"]),
    ("name starting with digit", create_req(name="1abc"), 400, ["1abc"]),
    ("name too long", create_req(name="a" * 200), 400, ["name"]),
    ("name looking like an id", create_req(name="t_" + "0" * 32), 400, ["reserved"]),
    ("name with quarantine suffix", create_req(name="x_quarantine"), 400, ["quarantine"]),
    ("duplicate name", create_req(name=CSV), 409, [CSV, "exists"]),
    # --- create: engine
    ("invalid engine", create_req(engine="Log"), 400, ["Log"]),
    ("engine injection", create_req(engine="MergeTree ORDER BY a; DROP TABLE x"), 400, ["Engine"]),
    ("sorting key unknown column", create_req(engine_sorting_key="nope"), 400, ["nope"]),
    ("sorting key subquery", create_req(engine_sorting_key="(SELECT a)"), 400, ["engine_sorting_key"]),
    ("sorting key injection", create_req(engine_sorting_key="a) SETTINGS index_granularity=1 --"), 400,
     ["engine_sorting_key"]),
    ("partition key forbidden function", create_req(engine_partition_key="sleep(3)"), 400, ["sleep"]),
    ("ttl injection", create_req(engine_ttl="now() + INTERVAL 1 DAY; DROP TABLE x"), 400, ["engine_ttl"]),
    ("ttl unknown column", create_req(engine_ttl="ts + INTERVAL 1 DAY"), 400, ["ts"]),
    ("ver unknown column", create_req(engine="ReplacingMergeTree", engine_ver="nope"), 400, ["nope"]),
    ("collapsing without sign", create_req(engine="CollapsingMergeTree"), 400, ["engine_sign"]),
    ("unsupported format", create_req(format="xml"), 400, ["xml"]),
    ("url import", create_req(url="http://example.com/x.csv"), 400, ["URL"]),
    ("bad mode", lambda c: c.post("/v0/datasources", params={"mode": "upsert", "name": CSV}), 400, ["upsert"]),
    # --- unknown data sources
    ("append to unknown", append_req(b"1,a\n", name="nope_ds"), 404, ["nope_ds"]),
    ("replace unknown", append_req(b"1,a\n", name="nope_ds", mode="replace"), 404, ["nope_ds"]),
    ("truncate unknown", lambda c: c.post("/v0/datasources/nope_ds/truncate"), 404, ["nope_ds"]),
    ("truncate unknown quarantine", lambda c: c.post("/v0/datasources/nope_ds_quarantine/truncate"), 404,
     ["nope_ds"]),
    ("delete rows unknown", delete_req("a = 1", name="nope_ds"), 404, ["nope_ds"]),
    ("drop unknown", lambda c: c.delete("/v0/datasources/nope_ds"), 404, ["nope_ds"]),
    ("get unknown", lambda c: c.get("/v0/datasources/nope_ds"), 404, ["nope_ds"]),
    ("get unknown datafile", lambda c: c.get("/v0/datasources/nope_ds.datasource"), 404, ["nope_ds"]),
    ("alter unknown", lambda c: c.post("/v0/datasources/nope_ds/alter", data={"description": "x"}), 404,
     ["nope_ds"]),
    ("v1 append unknown", lambda c: c.post("/v1/datasources/nope_ds/append", content=b"1"), 404, ["nope_ds"]),
    ("events unknown", events_req(b'{"a":1}', name="nope_ds"), 404, ["nope_ds"]),
    ("unknown job", lambda c: c.get("/v0/jobs/00000000-0000-0000-0000-000000000000"), 404, ["job"]),
    # --- append
    ("append without name", lambda c: c.post("/v0/datasources", params={"mode": "append"}, content=b"1"), 400,
     ["name"]),
    ("append unsupported format", append_req(b"1,a\n", format="avro"), 400, ["avro"]),
    ("append invalid gzip", append_req(b"\x1f\x8bnot gzip at all", {"Content-Encoding": "gzip"}), 400, ["gzip"]),
    ("append truncated gzip", append_req(gzip.compress(b"1,a\n" * 1000)[:40]), 400, ["gzip"]),
    ("append bad delimiter", append_req(b"1,a\n", dialect_delimiter=";;"), 400, ["dialect_delimiter"]),
    ("append quote delimiter", append_req(b"1,a\n", dialect_delimiter='"'), 400, ["dialect_delimiter"]),
    ("append delimiter injection", append_req(b"1,a\n", dialect_delimiter="', readonly=0, x='"), 400,
     ["dialect_delimiter"]),
    ("malformed multipart", lambda c: c.post("/v0/datasources", params={"mode": "append", "name": CSV},
                                             content=MULTIPART_BAD,
                                             headers={"Content-Type": "multipart/form-data; boundary=zzz"}),
     400, []),
    ("multipart without boundary", lambda c: c.post("/v0/datasources", params={"mode": "append", "name": CSV},
                                                    content=b"x",
                                                    headers={"Content-Type": "multipart/form-data"}), 400, []),
    # --- events
    ("events empty body", events_req(b""), 400, ["empty"]),
    ("events blank body", events_req(b" \n\n \n"), 400, ["empty"]),
    ("events without name", lambda c: c.post("/v0/events", content=b'{"a":1}'), 400, ["name"]),
    ("events invalid gzip", events_req(b"\x1f\x8bgarbage", {"Content-Encoding": "gzip"}), 400, ["gzip"]),
    ("events gzip header, plain body", events_req(b'{"a":1}', {"Content-Encoding": "gzip"}), 400, ["gzip"]),
    ("events over 10 MB", events_req(b'{"a":1}\n' * (10 * 1024 * 1024 // 8 + 1)), 413, ["10485760"]),
    ("events gzip bomb", events_req(gzip.compress(b" " * (11 * 1024 * 1024)), {"Content-Encoding": "gzip"}), 413,
     ["large"]),
    # --- delete rows
    ("delete without condition", delete_req(None), 400, ["delete_condition"]),
    ("delete empty condition", delete_req(""), 400, ["delete_condition"]),
    ("delete subquery", delete_req("a IN (SELECT a FROM err_json)"), 400, ["subquer"]),
    ("delete forbidden function", delete_req("a = 1 OR length(file('/etc/passwd')) > 0"), 400, ["file"]),
    ("delete sleep", delete_req("sleep(3) = 0"), 400, ["sleep"]),
    ("delete unknown column", delete_req("nope = 1"), 400, ["nope"]),
    ("delete injection", delete_req("1 = 1; DROP TABLE x"), 400, ["delete_condition"]),
    ("delete settings injection", delete_req("1 = 1 SETTINGS mutations_sync = 0"), 400, ["delete_condition"]),
    ("delete table function", delete_req("a IN numbers(10)"), 400, ["delete_condition"]),
    # --- alter
    ("alter without parameters", lambda c: c.post(f"/v0/datasources/{CSV}/alter", data={}), 400, ["schema"]),
    ("alter drops a column", lambda c: c.post(f"/v0/datasources/{CSV}/alter", data={"schema": "a UInt32"}), 400,
     ["column"]),
    ("alter bad type", lambda c: c.post(f"/v0/datasources/{CSV}/alter", data={"schema": OK_SCHEMA + ", c Nope"}),
     400, ["Nope"]),
    ("alter ttl injection", lambda c: c.post(f"/v0/datasources/{CSV}/alter", data={"ttl": "a; DROP TABLE x"}), 400,
     ["ttl"]),
]


@pytest.mark.parametrize(("req", "status", "needles"), [pytest.param(r, s, n, id=i) for i, r, s, n in CASES])
def test_bad_input(client: httpx.Client, req: Req, status: int, needles: list[str]) -> None:
    assert_error(req(client), status, *needles)


def test_nothing_was_created_by_the_bad_inputs(client: httpx.Client) -> None:
    names = {d["name"] for d in client.get("/v0/datasources").json()["datasources"]}
    assert not [n for n in names if n.startswith("err_new")] and "x_quarantine" not in names
    assert client.get(f"/v0/datasources/{CSV}").json()["statistics"]["row_count"] == 0


def test_events_body_limit_is_configurable(tmp_path: Path) -> None:
    srv = RoostServer(tmp_path / "data", env={"ROOST_EVENTS_MAX_BODY": "1000"}).start()
    try:
        with srv.admin() as c:
            create(c, "small", "`a` UInt32 `json:$.a`")
            ok = b'{"a":1}\n' * 100  # 800 bytes
            r = c.post("/v0/events", params={"name": "small"}, content=ok)
            assert r.status_code == 202, r.text
            assert_error(c.post("/v0/events", params={"name": "small"}, content=ok * 2), 413, "1000")

            def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
                for _ in range(20):
                    yield b'{"a":2}\n' * 10

            assert_error(c.post("/v0/events", params={"name": "small"}, content=chunks()), 413, "1000")
            assert_error(c.post("/v0/events", params={"name": "small"}, content=gzip.compress(ok * 2),
                                headers={"Content-Encoding": "gzip"}), 413, "1000")
    finally:
        srv.stop()


# --- fuzzing: no input gives a 500 ---------------------------------------------------------------------
SQLISH = st.sampled_from([
    "a", "b", "`a`", "String", "UInt8", "Nullable(", ")", "(", ",", " ", "'", '"', "`", ";", "--", "/*", "*/",
    "DROP TABLE x", "SELECT", "FROM", "system.tables", "DEFAULT", "CODEC(", "json:$.", "`json:$.a`", "$", "[:]",
    "Array(String)", "Map(String, UInt8)", "LowCardinality(String)", "DateTime64(3)", "\\", "\n", "\x00", "é",
    "SETTINGS", "readonly=0", "file('x')", "sleep(1)", "now()", "INTERVAL 1 DAY", "+", "toYYYYMM(", "tuple()",
    "{", "}", "%", "{{", "}}", "ORDER BY", "ENGINE", "= Memory", "AggregateFunction(sum, UInt64)",
])
FRAGMENTS = st.lists(st.one_of(SQLISH, st.text(max_size=6)), max_size=12).map("".join)
NAMES = st.one_of(st.text(alphabet=string.ascii_letters + string.digits + "_-. ;'`$", max_size=20), FRAGMENTS)
ENGINES_ = st.sampled_from(["MergeTree", "ReplacingMergeTree", "SummingMergeTree", "AggregatingMergeTree",
                            "CollapsingMergeTree", "VersionedCollapsingMergeTree", "Null", "Log", "", "mergetree"])


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(name=NAMES, schema=FRAGMENTS, engine=st.one_of(ENGINES_, FRAGMENTS),
       keys=st.dictionaries(st.sampled_from(["engine_sorting_key", "engine_partition_key", "engine_ttl",
                                             "engine_ver", "engine_sign", "engine_primary_key",
                                             "engine_summing_columns", "format", "engine_version"]),
                            FRAGMENTS, max_size=4))
def test_fuzz_create_never_500(client: httpx.Client, name: str, schema: str, engine: str,
                               keys: dict[str, str]) -> None:
    r = client.post("/v0/datasources", data={"name": name, "schema": schema, "engine": engine, **keys})
    assert r.status_code < 500, (r.status_code, r.text)
    assert "Traceback" not in r.text
    if r.status_code >= 400:
        assert set(r.json()) >= {"error", "documentation"}


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(body=st.one_of(st.binary(max_size=300), FRAGMENTS.map(str.encode)),
       fmt=st.sampled_from(["csv", "ndjson", "parquet", None]),
       gz=st.booleans())
def test_fuzz_append_never_500(client: httpx.Client, body: bytes, fmt: str | None, gz: bool) -> None:
    params: dict[str, Any] = {"mode": "append", "name": JSON if fmt == "ndjson" else CSV}
    if fmt:
        params["format"] = fmt
    headers = {"Content-Encoding": "gzip"} if gz else {}
    r = client.post("/v0/datasources", params=params, content=gzip.compress(body) if gz else body,
                    headers=headers)
    assert r.status_code < 500, (r.status_code, r.text)
    r = client.post("/v0/events", params={"name": JSON}, content=body)
    assert r.status_code < 500, (r.status_code, r.text)
