"""The importer in-process on chDB (the session ``chdb_path``): row pipelines, lanes, quarantine, dedup."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from roost.engine.chdb_engine import ChdbEngine
from roost.errors import BadRequest
from roost.ingest.importer import Importer, ImportResult, _line_numbers, split_lines
from roost.ingest.schema import Column, parse_engine, parse_schema
from roost.ingest.tables import create_quarantine_sql, create_table_sql


@pytest.fixture(scope="module")
def engine(chdb_path: Path) -> Iterator[ChdbEngine]:
    eng = ChdbEngine(chdb_path, threads=2)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def db(engine: ChdbEngine) -> Iterator[str]:
    name = "imp_" + uuid.uuid4().hex[:8]
    engine.command(f"CREATE DATABASE {name}")
    yield name
    engine.command(f"DROP DATABASE IF EXISTS {name} SYNC")


@pytest.fixture(scope="module")
def importer(engine: ChdbEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Importer]:
    imp = Importer(engine, "imp_staging_" + uuid.uuid4().hex[:6], tmp_path_factory.mktemp("imp"), lanes=3,
                   lane_min_bytes=200)
    imp.setup()
    yield imp
    engine.command(f"DROP DATABASE IF EXISTS {imp.staging_db} SYNC")
    imp.close()


class Target:
    def __init__(self, engine: ChdbEngine, importer: Importer, db: str, schema: str, tmp: Path,
                 **engine_params: str) -> None:
        self.engine, self.importer, self.tmp = engine, importer, tmp
        self.columns = parse_schema(schema)
        name = "t" + uuid.uuid4().hex[:10]
        self.table, self.quarantine = f"{db}.`{name}`", f"{db}.`{name}_quarantine`"
        engine.command(create_table_sql(self.table, self.columns, parse_engine(engine_params, self.columns)))
        engine.command(create_quarantine_sql(self.quarantine, self.columns))

    def load(self, data: bytes, fmt: str = "ndjson", token: str | None = None, **kw: Any) -> ImportResult:
        path = self.tmp / f"in-{uuid.uuid4().hex}"
        path.write_bytes(data)
        return self.importer.run(table=self.table, quarantine=self.quarantine, columns=self.columns, fmt=fmt,
                                 path=path, import_id="imp-1", dedup_token=token, **kw)

    def rows(self, sql: str = "*", table: str | None = None, order: str = "tuple()") -> list[dict[str, Any]]:
        r = self.engine.query(f"SELECT {sql} FROM {table or self.table} ORDER BY {order}", "JSONEachRow",
                              settings={"output_format_json_quote_64bit_integers": 0})
        return [orjson.loads(x) for x in r.data.splitlines()]

    def qrows(self) -> list[dict[str, Any]]:
        return self.rows("c__raw, c__error, c__error_column, c__import_id", self.quarantine, order="c__raw")


@pytest.fixture()
def target(engine: ChdbEngine, importer: Importer, db: str, tmp_path: Path) -> Any:
    def make(schema: str, **params: str) -> Target:
        return Target(engine, importer, db, schema, tmp_path, **params)

    return make


def nd(*rows: Any) -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows)


def test_ndjson_nested_paths_arrays_and_defaults(target: Any) -> None:
    t = target("`id` UInt32 `json:$.id`, `city` String `json:$.geo.city`, `zip` Nullable(String) `json:$.geo.zip`,"
               " `tags` Array(String) `json:$.tags[:]`, `n` UInt8 DEFAULT 7 `json:$.n`, `raw` String `json:$`")
    res = t.load(nd({"id": 1, "geo": {"city": "a", "zip": "z"}, "tags": ["x"], "n": 2},
                    {"id": 2, "geo": {"city": "b"}}))
    assert (res.rows, res.quarantined) == (2, 0)
    got = t.rows("id, city, zip, tags, n, raw", order="id")
    assert got[0] == {"id": 1, "city": "a", "zip": "z", "tags": ["x"], "n": 2,
                      "raw": '{"id":1,"geo":{"city":"a","zip":"z"},"tags":["x"],"n":2}'}
    assert got[1] == {"id": 2, "city": "b", "zip": None, "tags": [], "n": 7, "raw": '{"id":2,"geo":{"city":"b"}}'}


def test_colliding_paths_are_extracted_separately(target: Any) -> None:
    t = target("`a` UInt32 `json:$.a`, `a_text` String `json:$.a`, `g` String `json:$.g`, `gx` Int8 `json:$.g.x`")
    res = t.load(nd({"a": 5, "g": {"x": -1}}))
    assert (res.rows, res.quarantined) == (1, 0), res.errors
    assert t.rows("a, a_text, g, gx") == [{"a": 5, "a_text": "5", "g": '{"x":-1}', "gx": -1}]


def test_ndjson_quarantine_reasons(target: Any) -> None:
    t = target("`id` UInt32 `json:$.id`, `s` String `json:$.s`, `p` Nullable(Float32) `json:$.p`")
    lines = [b'{"id": 1, "s": "ok"}', b'{"id": -1, "s": "x"}', b'{"s": "no id"}', b'{"id": 3', b'"str"',
             b'{"id": 4, "s": "x", "p": "nan?"}', b'{"id": 5, "s": null}', b"   ", b"", b'{"id": 6, "s": "ok"}']
    res = t.load(b"\n".join(lines))  # no trailing newline on the last line
    assert (res.rows, res.quarantined) == (2, 6)
    q = {r["c__raw"]: r for r in t.qrows()}
    assert q['{"id": -1, "s": "x"}']["c__error"] == ["value '-1' on column 'id' is not UInt32"]
    assert q['{"s": "no id"}']["c__error_column"] == ["id"]
    assert q['{"id": 3']["c__error"] == ["the row is not valid JSON"]
    assert q['"str"']["c__error"] == ["the row is not a JSON object"]
    assert q['{"id": 4, "s": "x", "p": "nan?"}']["c__error_column"] == ["p"]
    assert q['{"id": 5, "s": null}']["c__error"] == ["value 'null' on column 's' is not String"]
    assert {r["c__import_id"] for r in q.values()} == {"imp-1"}
    assert [e.split(":")[0] for e in res.errors] == ["line 2", "line 3", "line 4", "line 5", "line 6", "line 7"]


def test_lanes_split_at_line_boundaries(target: Any, importer: Importer) -> None:
    t = target("`id` UInt32 `json:$.id`, `s` String `json:$.s`")
    rows = [{"id": i, "s": "x" * (i % 13)} for i in range(500)]
    data = nd(*rows).replace(b'{"id":250,', b'{"id":"bad",')
    assert len(split_lines_of(data, importer)) == 3
    res = t.load(data)
    assert (res.rows, res.quarantined) == (499, 1)
    assert t.rows("count() AS n, sum(id) AS s") == [{"n": 499, "s": sum(range(500)) - 250}]
    assert res.errors[0].startswith("line 251: value 'bad' on column 'id'")


def split_lines_of(data: bytes, importer: Importer) -> list[tuple[int, int]]:
    p = importer.tmp_dir / "split"
    p.write_bytes(data)
    return split_lines(p, importer.lanes, importer.lane_min_bytes)


def test_dedup_token_makes_a_replay_a_no_op(target: Any) -> None:
    t = target("`id` UInt32 `json:$.id`")
    data = nd({"id": 1}, {"id": 2}, {"id": "x"})
    assert (t.load(data, token="seg-1").rows, t.load(data, token="seg-1").rows) == (2, 2)
    assert t.rows("count() AS n") == [{"n": 2}]
    assert len(t.qrows()) == 1
    t.load(data, token="seg-2")
    assert t.rows("count() AS n") == [{"n": 4}]
    assert len(t.qrows()) == 2


def test_identical_loads_without_token_both_land(target: Any) -> None:
    t = target("`id` UInt32 `json:$.id`")
    for fmt, data in (("ndjson", nd({"id": 1})), ("csv", b"1\n")):
        t.load(data, fmt=fmt)
        t.load(data, fmt=fmt)
    assert t.rows("count() AS n") == [{"n": 4}]


def test_parquet(target: Any) -> None:
    t = target("`id` UInt32 `json:$.id`, `name` String `json:$.name`, `v` Nullable(Float64) `json:$.v`")
    out = io.BytesIO()
    pq.write_table(pa.table({"id": pa.array([1, None, 3], pa.uint32()), "name": ["a", "b", None],
                             "v": [1.0, None, None]}), out)
    res = t.load(out.getvalue(), fmt="parquet")
    assert (res.rows, res.quarantined) == (1, 2)
    assert t.rows("id, name, v") == [{"id": 1, "name": "a", "v": 1}]
    assert sorted(r["c__error_column"][0] for r in t.qrows()) == ["id", "name"]


def test_csv_header_delimiters_and_errors(target: Any) -> None:
    t = target("a UInt32, b String")
    assert (t.load(b"b,a\nx,1\ny,2\n", fmt="csv").rows) == 2
    assert (t.load(b"3;z\n", fmt="csv", delimiter=";").rows) == 1
    assert (t.load(b"4\tw\n", fmt="csv", delimiter="\t").rows) == 1
    res = t.load(b"5,v\nbad,u\n6\n", fmt="csv")
    assert (res.rows, res.quarantined) == (1, 2)
    assert "row 3: wrong number of fields: expected 2, got 1" in res.errors
    with pytest.raises(BadRequest):
        t.load(b"1,a\n", fmt="csv", delimiter="ab")


def test_unsupported_format(target: Any) -> None:
    with pytest.raises(BadRequest, match="xml"):
        target("a UInt8").load(b"<a/>", fmt="xml")


def test_empty_file_is_nothing(target: Any) -> None:
    assert target("a UInt8").load(b"") == ImportResult()


def _staging_tables(engine: ChdbEngine, importer: Importer) -> int:
    return int(engine.query(f"SELECT count() FROM system.tables WHERE database = '{importer.staging_db}'",
                            "TSV").data)


def test_pipelines_are_reused_and_forgotten(target: Any, engine: ChdbEngine, importer: Importer) -> None:
    before = _staging_tables(engine, importer)
    t = target("`id` UInt32 `json:$.id`")
    t.load(nd({"id": 1}, {"x": 1}))
    one = _staging_tables(engine, importer) - before
    assert one > 0
    for _ in range(3):
        t.load(nd({"id": 1}, {"x": 1}))
    assert _staging_tables(engine, importer) - before == one  # reused, one import at a time
    t.load(nd({"id": 2}), token="tok")  # the staged kind is another pipeline
    assert _staging_tables(engine, importer) - before > one
    assert t.rows("count() AS n") == [{"n": 5}] and len(t.qrows()) == 4
    importer.forget(t.table)
    assert _staging_tables(engine, importer) == before


def test_concurrent_imports_into_one_table(target: Any) -> None:
    import threading

    t = target("`id` UInt32 `json:$.id`")
    results: list[ImportResult] = []

    def work(k: int) -> None:
        results.append(t.load(nd(*({"id": k * 100 + i} for i in range(50)), {"bad": k})))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted((r.rows, r.quarantined) for r in results) == [(50, 1)] * 6  # counts never mix
    assert t.rows("count() AS n, uniqExact(id) AS u") == [{"n": 300, "u": 300}]


def test_line_numbers(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"a\nbb\n\nab\nb\nbb\n")
    assert _line_numbers(p, ["bb", "b", "ab", "zz", ""]) == {"bb": 2, "ab": 4, "b": 5}


def test_split_lines(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"".join(b"%05d\n" % i for i in range(1000)))
    ranges = split_lines(p, 4, min_bytes=100)
    assert len(ranges) == 4 and ranges[0][0] == 0 and ranges[-1][1] == 6000
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(a % 6 == 0 for a, _ in ranges)
    assert split_lines(p, 4, min_bytes=10_000) == [(0, 6000)]
    p.write_bytes(b"x" * 500)  # one long line: one range
    assert split_lines(p, 4, min_bytes=10) == [(0, 500)]


def test_plan_rejects_bad_paths() -> None:
    from roost.ingest.pipeline import plan_ndjson

    with pytest.raises(BadRequest):
        plan_ndjson([Column("a", "String", jsonpath="$.`x`")])


def test_odd_json_keys(target: Any) -> None:
    t = target("`a` String `json:$['a.b']`, `b` String `json:$['a b']`, `c` String `json:$['it\\'s']`, "
               "`d` String `json:$.ñ`, `e` UInt8 `json:$['x']['y.z']`")
    res = t.load(nd({"a.b": "1", "a b": "2", "it's": "3", "ñ": "4", "x": {"y.z": 5}}))
    assert (res.rows, res.quarantined) == (1, 0), res.errors
    assert t.rows("a, b, c, d, e") == [{"a": "1", "b": "2", "c": "3", "d": "4", "e": 5}]
