"""The embedded engine: per-thread chDB connections, reset after errors, generated SETTINGS only.

In-process: every test uses the session-wide ``chdb_path`` (one chDB data path per process) and its
own database name.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from roost.engine.base import EngineError, render_setting, settings_clause
from roost.engine.chdb_engine import ChdbEngine

PARTIAL_THEN_FAIL = (
    "SELECT number, throwIf(number = 200000) FROM numbers(1000000) SETTINGS max_block_size = 1000"
)


@pytest.fixture(scope="module")
def engine(chdb_path: Path) -> Iterator[ChdbEngine]:
    eng = ChdbEngine(chdb_path, threads=4)
    yield eng
    eng.close()


@pytest.fixture()
def db(engine: ChdbEngine) -> Iterator[str]:
    name = "eng_" + uuid.uuid4().hex[:10]
    engine.command(f"CREATE DATABASE {name}")
    yield name
    engine.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def test_query_returns_formatted_bytes_and_stats(engine: ChdbEngine) -> None:
    r = engine.query("SELECT number FROM system.numbers LIMIT 3", "TSV")
    assert r.data == b"0\n1\n2\n"
    assert r.rows_read >= 3
    assert r.elapsed >= 0


def test_query_with_params(engine: ChdbEngine) -> None:
    r = engine.query("SELECT {x:UInt32} + 1, {s:String}", "TSV", params={"x": 41, "s": "it's"})
    assert r.data == b"42\tit\\'s\n"


def test_engine_errors_carry_code_and_name(engine: ChdbEngine) -> None:
    with pytest.raises(EngineError) as ei:
        engine.query("SELECT * FROM no_such_db.no_such_table", "TSV")
    assert ei.value.code == 81
    assert ei.value.name == "UNKNOWN_DATABASE"
    assert "no_such_db" in ei.value.message
    assert "version" not in ei.value.message


def test_error_resets_the_connection_and_next_output_is_clean(engine: ChdbEngine) -> None:
    """engine-security finding 4: chDB prepends partial output of a failed query to the next one.

    The invariant: after any engine error, the next statement on the same thread gets exactly its own
    output, because the thread's connection was closed and a new one opened.
    """
    before = engine._conn()
    with pytest.raises(EngineError) as ei:
        engine.query(PARTIAL_THEN_FAIL, "TSV")
    assert ei.value.code == 395
    assert engine.query("SELECT 42", "TSV").data == b"42\n"
    assert engine._conn() is not before


def test_error_in_insert_resets_the_connection(engine: ChdbEngine, db: str) -> None:
    engine.command(f"CREATE TABLE {db}.t (a UInt8) ENGINE = MergeTree ORDER BY a")
    with pytest.raises(EngineError):
        engine.insert(f"{db}.t", "CSV", [b"1\n", b"not a number\n"])
    assert engine.query("SELECT 7", "TSV").data == b"7\n"
    assert engine.query(f"SELECT count() FROM {db}.t", "TSV").data == b"0\n"


def test_errors_on_one_thread_do_not_leak_into_another(engine: ChdbEngine) -> None:
    errors: list[str] = []
    outputs: list[bytes] = []
    lock = threading.Lock()

    def failing() -> None:
        for _ in range(5):
            try:
                engine.query(PARTIAL_THEN_FAIL, "TSV")
            except EngineError as e:
                with lock:
                    errors.append(e.name)

    def clean() -> None:
        for i in range(50):
            out = engine.query(f"SELECT {i}", "TSV").data
            with lock:
                outputs.append(out)

    threads = [threading.Thread(target=failing), threading.Thread(target=clean)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == ["FUNCTION_THROW_IF_VALUE_IS_NON_ZERO"] * 5
    assert sorted(outputs) == sorted(f"{i}\n".encode() for i in range(50))


def test_each_thread_has_its_own_connection(engine: ChdbEngine) -> None:
    conns: dict[str, object] = {}
    barrier = threading.Barrier(3)

    def grab(name: str) -> None:
        barrier.wait()
        conns[name] = engine._conn()
        assert engine._conn() is conns[name]  # stable within a thread

    threads = [threading.Thread(target=grab, args=(f"t{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in conns.values()}) == 3


def test_connections_run_queries_in_parallel(engine: ChdbEngine) -> None:
    """A long query on one thread does not block another thread's queries (no shared session).

    Functional ordering check, not a timing assertion: the quick queries on thread B all finish
    while thread A's 3-second query is still running.
    """
    a_done = threading.Event()
    b_done_before_a: list[bool] = []

    def slow() -> None:
        engine.query("SELECT sleep(3)", "TSV")
        a_done.set()

    def quick() -> None:
        for _ in range(20):
            assert engine.query("SELECT 1", "TSV").data == b"1\n"
        b_done_before_a.append(not a_done.is_set())

    ta = threading.Thread(target=slow)
    ta.start()
    # make sure A's query is running before B starts
    deadline_hit = not _wait_for_running(engine, "sleep(3)")
    tb = threading.Thread(target=quick)
    tb.start()
    tb.join()
    ta.join()
    assert not deadline_hit
    assert b_done_before_a == [True]


def _wait_for_running(engine: ChdbEngine, text: str) -> bool:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = engine.query(
            "SELECT count() FROM system.processes WHERE query LIKE {p:String} AND query NOT LIKE '%system.processes%'",
            "TSV", params={"p": f"%{text}%"},
        )
        if r.data.strip() not in (b"", b"0"):
            return True
        time.sleep(0.01)
    return False


def test_run_uses_the_engine_pool(engine: ChdbEngine) -> None:
    async def main() -> tuple[str, bytes]:
        name = await engine.run(lambda: threading.current_thread().name)
        data = await engine.run(lambda: engine.query("SELECT 5", "TSV").data)
        return name, data

    name, data = asyncio.run(main())
    assert name.startswith("roost-engine")
    assert data == b"5\n"


def test_insert_streams_chunks(engine: ChdbEngine, db: str) -> None:
    engine.command(f"CREATE TABLE {db}.t (a UInt32, s String) ENGINE = MergeTree ORDER BY a")
    chunks = [b'{"a":1,"s":"x"}\n{"a":2,', b'"s":"y"}\n', b"", b'{"a":3,"s":"z"}\n']
    assert engine.insert(f"{db}.t", "JSONEachRow", iter(chunks)) == 3
    assert engine.query(f"SELECT sum(a), groupArray(s) FROM (SELECT * FROM {db}.t ORDER BY a)", "TSV").data == \
        b"6\t['x','y','z']\n"


def test_insert_with_columns_and_settings(engine: ChdbEngine, db: str) -> None:
    engine.command(f"CREATE TABLE {db}.t (a UInt32, b String DEFAULT 'd') ENGINE = MergeTree ORDER BY a")
    n = engine.insert(f"{db}.t", "CSV", [b"1\n2\nx\n3\n"], columns=["`a`"],
                      settings={"input_format_allow_errors_num": 5, "input_format_allow_errors_ratio": 1})
    assert n == 3
    assert engine.query(f"SELECT groupArray(a), any(b) FROM {db}.t", "TSV").data == b"[1,2,3]\td\n"


def test_no_state_survives_between_calls(engine: ChdbEngine) -> None:
    """Settings passed to one call apply to that call only."""
    assert engine.query("SELECT getSetting('max_threads') = 3", "TSV", settings={"max_threads": 3}).data == b"1\n"
    assert engine.query("SELECT getSetting('max_threads') = 3", "TSV").data == b"0\n"
    assert engine.query("SELECT currentDatabase()", "TSV").data == b"default\n"


@pytest.mark.parametrize(
    "name",
    ["max_threads; DROP TABLE x", "max_threads=1, readonly", "Max_Threads", "1abc", "", "a b", "a-b", "a`b", "é"],
)
def test_settings_clause_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="bad setting name"):
        settings_clause({name: 1})


def test_bad_setting_name_never_reaches_the_engine(engine: ChdbEngine) -> None:
    with pytest.raises(ValueError):
        engine.query("SELECT 1", "TSV", settings={"readonly=0, max_threads": 1})


def test_settings_clause_renders_values_safely() -> None:
    assert settings_clause(None) == ""
    assert settings_clause({}) == ""
    assert settings_clause({"max_threads": 2, "readonly": True, "ratio": 0.5}) == \
        " SETTINGS max_threads=2, readonly=1, ratio=0.5"
    assert render_setting("it's") == "'it\\'s'"
    assert render_setting({"db.t": "a = 'x'"}) == "{'db.t': 'a = \\'x\\''}"


def test_setting_values_cannot_inject(engine: ChdbEngine) -> None:
    payload = "x', readonly=0, max_threads='1"
    r = engine.query("SELECT getSetting('format_csv_delimiter')", "TSV",
                     settings={"format_csv_null_representation": payload})
    assert r.data == b",\n"
    r = engine.query("SELECT getSetting('format_csv_null_representation')", "TSV",
                     settings={"format_csv_null_representation": payload})
    assert r.data.decode().strip().replace("\\'", "'") == payload


def test_closed_engine_refuses_new_connections(chdb_path: Path) -> None:
    eng = ChdbEngine(chdb_path, threads=1)
    assert eng.query("SELECT 1", "TSV").data == b"1\n"
    eng.close()
    with pytest.raises(EngineError, match="closed"):
        eng.query("SELECT 1", "TSV")


def test_from_text_parses_clickhouse_messages() -> None:
    e = EngineError.from_text(
        "Code: 62. DB::Exception: Syntax error: failed at position 8 (end of query). (SYNTAX_ERROR) "
        "(version 26.9.2.1)"
    )
    assert (e.code, e.name) == (62, "SYNTAX_ERROR")
    assert e.message == "Syntax error: failed at position 8 (end of query)."
    plain = EngineError.from_text("something odd")
    assert (plain.code, plain.name, plain.message) == (0, "", "something odd")
