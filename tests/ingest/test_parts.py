"""Pure-Python parts of ingestion: spooling, the write-ahead log, schema parsing, line checks."""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from roost.errors import BadRequest, PayloadTooLarge
from roost.ingest.events import check_lines
from roost.ingest.schema import EngineSpec, check_name, parse_engine, parse_jsonpath, parse_schema
from roost.ingest.spool import Spool
from roost.ingest.wal import WAL


# --- spool ----------------------------------------------------------------------------------------
def _consume(spool: Spool, chunks: list[bytes]) -> Path:
    async def gen() -> AsyncIterator[bytes]:
        for c in chunks:
            yield c

    return asyncio.run(spool.consume(gen()))


def test_spool_plain_and_gzip(tmp_path: Path) -> None:
    data = b"".join(b"line %d\n" % i for i in range(10_000))
    assert _consume(Spool(tmp_path, 10**9), [data[:100], data[100:]]).read_bytes() == data
    gz = gzip.compress(data)
    pieces = [gz[i:i + 7] for i in range(0, len(gz), 7)]
    assert _consume(Spool(tmp_path, 10**9), pieces).read_bytes() == data  # sniffed
    assert _consume(Spool(tmp_path, 10**9, gzip=True), [gz]).read_bytes() == data


def test_spool_limits_the_decoded_size(tmp_path: Path) -> None:
    with pytest.raises(PayloadTooLarge):
        _consume(Spool(tmp_path, 1000), [b"x" * 600, b"x" * 600])
    bomb = gzip.compress(b"\0" * 5_000_000)
    with pytest.raises(PayloadTooLarge):
        _consume(Spool(tmp_path, 1_000_000), [bomb])
    assert list(tmp_path.glob("spool-*")) == []  # discarded on error


@pytest.mark.parametrize("body", [b"\x1f\x8bgarbage", gzip.compress(b"abc" * 1000)[:-8]])
def test_spool_bad_gzip(tmp_path: Path, body: bytes) -> None:
    with pytest.raises(BadRequest, match="gzip"):
        _consume(Spool(tmp_path, 10**9, gzip=True), [body])


# --- WAL ------------------------------------------------------------------------------------------
def test_wal_append_rotate_read_remove(tmp_path: Path) -> None:
    wal = WAL(tmp_path)
    try:
        futs = [wal.append("ds1", b"a\n"), wal.append("ds2", b"b\n"), wal.append("ds1", b"c\n")]
        seqs = {f.result(10) for f in futs}
        closed = wal.rotate()
        assert seqs == {closed}
        assert list(wal.read(closed)) == [("ds1", b"a\n"), ("ds2", b"b\n"), ("ds1", b"c\n")]
        assert wal.append("ds1", b"d\n").result(10) == closed + 1
        wal.remove(closed)
        assert closed not in wal.segments() and closed + 1 in wal.segments()
    finally:
        wal.close()


def test_wal_torn_tail_is_ignored_and_numbering_continues(tmp_path: Path) -> None:
    wal = WAL(tmp_path)
    wal.append("ds", b"one\n").result(10)
    wal.append("ds", b"two\n").result(10)
    seq = wal.seq
    wal.close()
    path = tmp_path / f"seg-{seq:012d}.wal"
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # a crash in the middle of the last record
    again = WAL(tmp_path)
    try:
        assert list(again.read(seq)) == [("ds", b"one\n")]
        assert again.seq == seq + 1  # a new process never reuses a segment number
        corrupt = bytearray(data)
        corrupt[20] ^= 0xFF  # a flipped bit inside the first record: nothing after it is trusted
        path.write_bytes(bytes(corrupt))
        assert list(again.read(seq)) == []
    finally:
        again.close()


def test_wal_group_commit_from_many_threads(tmp_path: Path) -> None:
    import threading

    wal = WAL(tmp_path)
    try:
        out: list[int] = []

        def work(k: int) -> None:
            for i in range(50):
                wal.append(f"d{k}", b"%d\n" % i).result(10)
            out.append(k)

        ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        seq = wal.rotate()
        records = list(wal.read(seq))
        assert len(records) == 400
        for k in range(8):
            assert [p for d, p in records if d == f"d{k}"] == [b"%d\n" % i for i in range(50)]
    finally:
        wal.close()


# --- schema ---------------------------------------------------------------------------------------
def test_parse_schema_round_trip() -> None:
    text = ("`a` UInt32 `json:$.a`, b Nullable(String) `json:$.x.y`, c Array(LowCardinality(String)) "
            "`json:$.c[:]`, d DateTime64(3, 'UTC') DEFAULT now64() CODEC(Delta, ZSTD(1)), e Map(String, Array(UInt8))")
    cols = parse_schema(text)
    assert [c.sql_schema() for c in cols] == [
        "`a` UInt32 `json:$.a`",
        "`b` Nullable(String) `json:$.x.y`",
        "`c` Array(LowCardinality(String)) `json:$.c[:]`",
        "`d` DateTime64(3, 'UTC') DEFAULT now64() CODEC(Delta, ZSTD(1))",
        "`e` Map(String, Array(UInt8))",
    ]
    assert parse_schema(", ".join(c.sql_schema() for c in cols)) == cols


@pytest.mark.parametrize(("path", "keys"), [
    ("$.a", (["a"], False)), ("$.a.b.c", (["a", "b", "c"], False)), ("$.items[:]", (["items"], True)),
    ("$['a b'].c", (["a b", "c"], False)), ('$["x"]', (["x"], False)), ("$", None),
])
def test_parse_jsonpath(path: str, keys: tuple[list[str], bool] | None) -> None:
    assert parse_jsonpath(path) == keys


@pytest.mark.parametrize("path", ["a.b", "$.", "$..a", "$.a[0]", "$[:]", "$.a b"])
def test_parse_jsonpath_rejects(path: str) -> None:
    with pytest.raises(BadRequest, match="JSONPath"):
        parse_jsonpath(path)


@pytest.mark.parametrize("name", ["events", "_x", "A1_b", "a" * 128])
def test_check_name_accepts(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "1a", "a-b", "a b", "a;b", "select", "SYSTEM", "a" * 129, "é"])
def test_check_name_rejects(name: str) -> None:
    with pytest.raises(BadRequest):
        check_name(name)


def test_engine_keys_are_lists_of_checked_expressions() -> None:
    cols = parse_schema("ts DateTime, k String, v UInt64, s Int8")
    spec = parse_engine({"engine": "collapsingmergetree", "engine_sorting_key": "k,ts", "engine_sign": "`s`",
                         "engine_partition_key": "toYYYYMM(ts)", "engine_ttl": "ts + toIntervalDay(1)"}, cols)
    assert spec.engine == "CollapsingMergeTree"
    assert spec.engine_full() == ("CollapsingMergeTree(`s`) PARTITION BY toYYYYMM(ts) ORDER BY (k, ts) "
                                  "TTL ts + toIntervalDay(1)")
    assert EngineSpec(**spec.to_doc()) == spec
    assert parse_engine({"engine": "Null"}, cols).engine_full() == "Null"


# --- check_lines ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "expected"), [
    (b'{"a":1}\n{"b":2}\n', (2, 0)),
    (b'{"a":1}', (1, 0)),
    (b'\n\n{"a":1}\r\n  \n', (1, 0)),
    (b'{"a":1}\nnot json\n[1,2]\n"s"\n{"a":\n', (1, 4)),
    (b'{"a":[{}\n{}]}\n', (0, 2)),  # two broken lines that would make one object if joined
    (b'{"a":1}, {"b":2}\n', (0, 1)),
    (b"", (0, 0)),
])
def test_check_lines(body: bytes, expected: tuple[int, int]) -> None:
    assert check_lines(body) == expected


def test_check_lines_large_body_is_fast_path() -> None:
    body = b"".join(b'{"id":%d,"s":"x"}\n' % i for i in range(10_000))
    assert check_lines(body) == (10_000, 0)


def test_no_temp_files_left(tmp_path: Path) -> None:
    _consume(Spool(tmp_path, 100), [b"abc"]).unlink()
    assert os.listdir(tmp_path) == []
