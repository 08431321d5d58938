"""The SQL compiler (roost/sql/compiler.py): unit tests, and attacks run on a real chDB.

Invariant under test: a token that may read ``events`` only where ``user_id = 42`` sees nothing else, whatever
SQL it sends: every query either is refused (400/403) or, run on the engine, returns only user 42's rows and
no value of ``secrets``.

The helpers at the top (``Chdb``, ``UserResolver``, ``AdminResolver``, ``check_no_leak``) are shared with
test_rls_fixtures.py and test_rls_property.py.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import chdb
import pytest
import sqlglot
from sqlglot import exp

from roost.errors import BadRequest, Forbidden, QueryLimitExceeded, RoostError
from roost.sql import functions as F
from roost.sql.compiler import (
    QUERY_FORMATS,
    CompiledQuery,
    Relation,
    compile_select,
    split_format,
    tables_of,
    validate_filter,
)

# --- shared harness -------------------------------------------------------------------------------------

SECRET = "TOPSECRET"
USER = 42
ROWS_PER_USER = 100

SETUP = [
    "CREATE DATABASE ws",
    "CREATE TABLE ws.events (user_id UInt32, event_type String, price Float64, timestamp DateTime) "
    "ENGINE = MergeTree ORDER BY (user_id, timestamp)",
    # 10 000 rows, users 1..100, 100 rows each; deterministic
    "INSERT INTO ws.events SELECT number % 100 + 1, ['view', 'click', 'buy'][number % 3 + 1], "
    "(number % 997) / 10, toDateTime('2024-01-01 00:00:00', 'UTC') + number * 60 FROM numbers(10000)",
    "CREATE TABLE ws.events_42 AS ws.events",
    "INSERT INTO ws.events_42 SELECT * FROM ws.events WHERE user_id = 42",
    "CREATE TABLE ws.secrets (s String) ENGINE = MergeTree ORDER BY s",
    f"INSERT INTO ws.secrets VALUES ('{SECRET}')",
    "CREATE TABLE ws.events_quarantine (c__error String, user_id Nullable(String)) ENGINE = MergeTree ORDER BY tuple()",
    "INSERT INTO ws.events_quarantine VALUES ('bad row', '42')",
    "CREATE TABLE ws.pipe_stats_rt (pipe_name String, duration Float64) ENGINE = MergeTree ORDER BY tuple()",
    "INSERT INTO ws.pipe_stats_rt VALUES ('top_events', 0.5)",
]
SESSION = ["SET allow_introspection_functions = 0", "SET max_execution_time = 20", "SET readonly = 1"]


class EngineFailure(Exception):
    pass


class Chdb:
    """A chDB database at a temporary path with the test tables; queries run on a readonly connection.

    After a failed query the connection is closed and reopened (a failed query's partial output would
    otherwise be prepended to the next answer: engine-security finding 4)."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="roost-sql-")
        setup = chdb.connect(self.path)
        try:
            for stmt in SETUP:
                setup.query(stmt)
        finally:
            setup.close()
        self.conn: Any = None
        self._open()

    def _open(self) -> None:
        self.conn = chdb.connect(self.path)
        for stmt in SESSION:
            self.conn.query(stmt)

    def rows(self, sql: str, *, reopen: bool = True) -> tuple[list[str], list[list[Any]]]:
        """Run ``sql``; ``reopen=False`` keeps the connection after an error (faster) and relies on the
        strict JSON parse below to notice output left over from a failed query."""
        try:
            out = self.conn.query(sql, "JSONCompact")
            text = out.bytes().decode() if hasattr(out, "bytes") else str(out)
        except Exception as e:
            if reopen:
                self.reopen()
            raise EngineFailure(str(e)) from None
        try:
            doc = json.loads(text)
        except ValueError:
            self.reopen()
            return self.rows(sql)
        return [m["name"] for m in doc["meta"]], doc["data"]

    def reopen(self) -> None:
        self.conn.close()
        self._open()

    def close(self) -> None:
        self.conn.close()
        shutil.rmtree(self.path, ignore_errors=True)


def pipe_sql(resolver: Any) -> str:
    """The endpoint SQL of the test pipe ``top_events``, compiled for ``resolver`` (as the API does)."""
    return compile_select(
        "SELECT user_id, event_type, count() AS n FROM events GROUP BY user_id, event_type", resolver
    ).sql


@dataclass
class UserResolver:
    """A token with DATASOURCES:READ:events:user_id = 42 and PIPES:READ:top_events."""

    events_filter: str | None = f"user_id = {USER}"

    def resolve(self, name: str, database: str | None) -> Relation | None:
        if database is not None:
            return None
        if name == "events":
            return Relation("events", "datasource", physical="ws.events", filter=self.events_filter)
        if name == "events_quarantine":
            return Relation(name, "quarantine", physical="ws.events_quarantine")
        if name == "top_events":
            return Relation(name, "pipe", sql=pipe_sql(self))
        if name == "top_events_filtered":
            return Relation(name, "pipe", sql=pipe_sql(self), filter="event_type = 'buy'")
        return None


class AdminResolver:
    """An admin token: every data source unfiltered, service data sources under ``tinybird``."""

    def resolve(self, name: str, database: str | None) -> Relation | None:
        if database == "tinybird" and name == "pipe_stats_rt":
            return Relation(name, "service", physical="ws.pipe_stats_rt")
        if database is not None:
            return None
        if name in ("events", "secrets", "events_quarantine"):
            return Relation(name, "datasource", physical=f"ws.{name}")
        return None


_LEAK = re.compile(r"LEAK_(\d+)")


def check_no_leak(engine: Chdb, compiled: CompiledQuery) -> tuple[list[str], list[list[Any]]] | None:
    """Run compiled SQL on the engine and assert that nothing but user 42's data comes back.

    Oracles: the secret never appears; ``LEAK_<id>`` markers only for 42; a ``user_id`` column only 42; a
    column named ``n`` (a count over events) at most 100; the same for engine error messages."""
    try:
        names, rows = engine.rows(compiled.sql)
    except EngineFailure as e:
        text = str(e)
        assert SECRET not in text, text
        assert all(int(m) == USER for m in _LEAK.findall(text)), text
        return None
    text = json.dumps(rows)
    assert SECRET not in text, compiled.sql
    assert all(int(m) == USER for m in _LEAK.findall(text)), (compiled.sql, text[:500])
    for i, name in enumerate(names):
        if name == "user_id":
            assert all(row[i] in (USER, str(USER), None) for row in rows), (compiled.sql, rows[:5])
        if name == "n":
            assert all(int(row[i]) <= ROWS_PER_USER for row in rows), (compiled.sql, rows[:5])
    return names, rows


def normalize(sql: str) -> str:
    """SQL regenerated by sqlglot, with the per-query CTE salt removed (for comparing rewrites)."""
    text = sqlglot.parse_one(sql, read="clickhouse").sql("clickhouse", comments=False)
    return re.sub(r"__roost_cte_[0-9a-f]{8}_", "__roost_cte_", text)


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[Chdb]:
    eng = Chdb()
    yield eng
    eng.close()


user = UserResolver()
admin = AdminResolver()


def compiled(sql: str, resolver: Any = user, **kw: Any) -> str:
    return normalize(compile_select(sql, resolver, **kw).sql)


def wrap(alias: str = "events", filt: str = "__roost_t.user_id = 42") -> str:
    return f"(SELECT * FROM ws.events AS __roost_t WHERE ({filt})) AS {alias}"


# --- rewriting ------------------------------------------------------------------------------------------


def test_table_is_replaced_by_filtered_subquery() -> None:
    assert compiled("SELECT count() FROM events") == f"SELECT count() FROM {wrap()}"


def test_alias_is_kept_and_qualified_columns_work(engine: Chdb) -> None:
    assert compiled("SELECT e.user_id FROM events AS e") == f"SELECT e.user_id FROM {wrap('e')}"
    c = compile_select("SELECT events.user_id AS user_id, count() AS n FROM events GROUP BY events.user_id", user)
    result = check_no_leak(engine, c)
    assert result is not None and result[1] == [[42, 100]]


def test_unfiltered_relation_is_a_plain_table() -> None:
    assert compiled("SELECT * FROM events", UserResolver(events_filter=None)) == (
        "SELECT * FROM ws.events AS events"
    )


def test_filter_columns_are_qualified_so_aliases_cannot_capture_them() -> None:
    """`WITH 42 AS tenant` would satisfy an unqualified filter on a missing column (measured: 10 000 rows)."""
    out = compiled("WITH 42 AS tenant SELECT count() FROM events", UserResolver(events_filter="tenant = 42"))
    assert "__roost_t.tenant = 42" in out


def test_filter_with_lambda_keeps_lambda_parameters() -> None:
    out = compiled("SELECT 1 FROM events", UserResolver(events_filter="arrayExists(x -> x = user_id, [42])"))
    assert "arrayExists(x -> x = __roost_t.user_id, [42])" in out


def test_final_moves_inside_the_wrap() -> None:
    assert compiled("SELECT * FROM events FINAL") == (
        "SELECT * FROM (SELECT * FROM ws.events AS __roost_t FINAL WHERE (__roost_t.user_id = 42)) AS events"
    )


def test_every_reference_is_wrapped_joins_subqueries_in() -> None:
    sql = (
        "SELECT (SELECT max(price) FROM events) AS m FROM events AS a JOIN events AS b USING (user_id) "
        "WHERE user_id IN (SELECT user_id FROM events) AND EXISTS (SELECT 1 FROM events)"
    )
    out = compiled(sql)
    assert out.count("WHERE (__roost_t.user_id = 42)") == 5
    assert "FROM events" not in out


def test_pipe_is_inlined_and_its_filter_applies_to_its_output() -> None:
    out = compiled("SELECT * FROM top_events_filtered")
    assert out.startswith("SELECT * FROM (SELECT * FROM (SELECT user_id, event_type, count() AS n FROM (SELECT")
    assert out.endswith("AS __roost_t WHERE (__roost_t.event_type = 'buy')) AS top_events_filtered")


def test_pipe_runs(engine: Chdb) -> None:
    result = check_no_leak(engine, compile_select("SELECT * FROM top_events ORDER BY event_type", user))
    assert result is not None
    assert result[1] == [[42, "buy", 34], [42, "click", 33], [42, "view", 33]]


def test_service_datasource_needs_the_resolver() -> None:
    with pytest.raises(Forbidden):
        compile_select("SELECT * FROM tinybird.pipe_stats_rt", user)
    assert compiled("SELECT * FROM tinybird.pipe_stats_rt", admin) == (
        "SELECT * FROM ws.pipe_stats_rt AS pipe_stats_rt"
    )


def test_quarantine() -> None:
    assert compiled("SELECT * FROM events_quarantine") == "SELECT * FROM ws.events_quarantine AS events_quarantine"


def test_table_filters_and_relations() -> None:
    c = compile_select("SELECT * FROM events JOIN events_quarantine USING (user_id) JOIN events AS e2 USING (user_id)",
                       user)
    assert c.table_filters == {"ws.events": "user_id = 42"}
    assert [r.name for r in c.relations] == ["events", "events_quarantine"]


def test_table_filters_include_reads_inside_pipes() -> None:
    c = compile_select("SELECT * FROM top_events", user)
    assert c.table_filters == {"ws.events": "user_id = 42"}
    c = compile_select("SELECT * FROM top_events", UserResolver(events_filter="event_type IN ('a', 'b')"))
    assert c.table_filters == {"ws.events": "event_type IN ('a', 'b')"}
    # read unfiltered anywhere: no engine-side filter for that table
    c = compile_select("SELECT * FROM top_events", UserResolver(events_filter=None))
    assert c.table_filters == {}
    c = compile_select("SELECT * FROM events FINAL", user)
    assert c.table_filters == {"ws.events": "user_id = 42"}


def test_table_filters_or_different_filters() -> None:
    class Two:
        def resolve(self, name: str, database: str | None) -> Relation | None:
            return Relation(name, "datasource", physical="`ws`.`events`", filter=f"event_type = '{name}'")

    c = compile_select("SELECT * FROM buy JOIN view USING (user_id)", Two())
    assert c.table_filters == {"ws.events": "(event_type = 'buy') OR (event_type = 'view')"}
    assert c.sql.count('FROM "ws"."events" AS __roost_t WHERE') == 2


def test_cte_named_like_the_table_reads_the_filtered_table() -> None:
    """In ClickHouse `WITH events AS (SELECT * FROM events)` reads the real table inside the body."""
    out = compiled("WITH events AS (SELECT * FROM events) SELECT count() FROM events")
    assert out == f"WITH __roost_cte_1 AS (SELECT * FROM {wrap()}) SELECT count() FROM __roost_cte_1 AS events"


def test_scalar_with_does_not_hide_the_table() -> None:
    out = compiled("WITH 'secrets' AS events SELECT * FROM events")
    assert out == f"WITH 'secrets' AS events SELECT * FROM {wrap()}"
    with pytest.raises(Forbidden, match="secrets"):
        compile_select("WITH 'events' AS secrets SELECT * FROM secrets", user)


def test_cte_in_subquery_does_not_hide_the_outer_table() -> None:
    out = compiled(
        "SELECT count() FROM events WHERE user_id IN (WITH events AS (SELECT 1 AS user_id) SELECT user_id FROM events)"
    )
    assert out.startswith(f"SELECT count() FROM {wrap()} WHERE user_id IN (WITH __roost_cte_1 AS")


def test_forward_cte_reference_is_resolved_as_a_table() -> None:
    with pytest.raises(Forbidden, match="'b'"):
        compile_select("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", user)
    out = compiled("WITH a AS (SELECT * FROM events), events AS (SELECT 42 AS user_id) SELECT count() FROM a")
    assert f"__roost_cte_1 AS (SELECT * FROM {wrap()})" in out


def test_ctes_are_visible_in_later_ctes_subqueries_and_union_branches(engine: Chdb) -> None:
    sql = (
        "WITH a AS (SELECT * FROM events), b AS (SELECT * FROM a WHERE price > 50) "
        "SELECT count() AS n FROM b WHERE user_id IN (SELECT user_id FROM a) UNION ALL SELECT count() FROM a"
    )
    result = check_no_leak(engine, compile_select(sql, user))
    expected = engine.rows(sql.replace("FROM events", "FROM ws.events_42"))
    assert result is not None and sorted(result[1]) == sorted(expected[1]) == [[50], [100]]


def test_format_is_taken_off_and_canonicalized() -> None:
    c = compile_select("SELECT 1 FORMAT ndjson", user)
    assert (c.sql, c.format) == ("SELECT 1", "JSONEachRow")
    assert compile_select("SELECT 1 UNION ALL SELECT 2 FORMAT csvwithnames", user).format == "CSVWithNames"
    assert compile_select("(SELECT 1) FORMAT JSON", user).format == "JSON"
    assert compile_select("SELECT 1", user).format is None
    with pytest.raises(BadRequest, match="Invalid format 'XML', available ones: CSV"):
        compile_select("SELECT 1 FORMAT XML", user)
    with pytest.raises(BadRequest):
        compile_select("SELECT 1 FORMAT JSON", user, allowed_formats=frozenset({"CSV"}))
    assert QUERY_FORMATS >= {"JSON", "CSV", "Parquet", "NDJSON"}


def test_has_limit() -> None:
    assert compile_select("SELECT * FROM events LIMIT 10", user).has_limit
    assert not compile_select("SELECT * FROM (SELECT * FROM events LIMIT 10)", user).has_limit


def test_functions_rewritten_by_sqlglot_keep_their_meaning() -> None:
    assert compile_select("SELECT 7 DIV 2, rand(), rand64()", user).sql == "SELECT intDiv(7, 2), rand(), rand64()"


def test_comments_are_dropped() -> None:
    """sqlglot rewrites `-- x` as `/* x */`; the output carries no comment at all."""
    assert compiled("SELECT 1 -- */ , (SELECT s FROM secrets)\n, 2") == "SELECT 1, 2"


def test_tables_of() -> None:
    assert tables_of("WITH c AS (SELECT * FROM events) SELECT * FROM c JOIN db.t USING (x) CROSS JOIN numbers(3)") == [
        ("", "events", ""),
        ("db", "t", ""),
        ("", "", "numbers"),
    ]
    assert tables_of("SELECT 1 WHERE x IN secrets") == [("", "secrets", "")]
    with pytest.raises(BadRequest):
        tables_of("SELECT (")


def test_split_format() -> None:
    assert split_format("SELECT 1 FORMAT JSON") == ("SELECT 1", "JSON")
    assert split_format("SELECT 1 format CSV;") == ("SELECT 1", "CSV")
    assert split_format("SELECT 'FORMAT JSON'") == ("SELECT 'FORMAT JSON'", None)


# --- validate_filter ------------------------------------------------------------------------------------


def test_validate_filter_normalizes() -> None:
    assert validate_filter("user_id=42", {"user_id"}) == "user_id = 42"
    assert validate_filter("event_type IN ('a','b') and price > 1.5", None) == (
        "event_type IN ('a', 'b') AND price > 1.5"
    )
    assert validate_filter("has(tags, 'x') OR arrayExists(t -> t = 'y', tags)", {"tags"}) == (
        "has(tags, 'x') OR arrayExists(t -> t = 'y', tags)"
    )


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        ("", BadRequest),
        ("user_id = 42; DROP TABLE events", BadRequest),
        ("user_id IN (SELECT user_id FROM secrets)", BadRequest),
        ("SELECT 1", BadRequest),
        ("user_id IN secrets", BadRequest),
        ("count() > 1", BadRequest),
        ("sumIf(price, 1) > 1", BadRequest),
        ("row_number() OVER () = 1", BadRequest),
        ("file('/etc/passwd') != ''", Forbidden),
        ("currentUser() = 'x'", Forbidden),
        ("user_id = {uid:UInt32}", BadRequest),
        ("events.user_id = 42", BadRequest),
        ("_part = 'x'", Forbidden),
        ("user_id = 42 SETTINGS readonly = 0", BadRequest),
        ("arrayJoin([1]) = 1", BadRequest),
        ("(user_id AS x) = 42", BadRequest),
        ("nope = 1", BadRequest),
    ],
)
def test_validate_filter_rejects(expr: str, error: type[RoostError]) -> None:
    with pytest.raises(error):
        validate_filter(expr, {"user_id", "price"})


def test_validate_filter_names_the_unknown_column() -> None:
    with pytest.raises(BadRequest, match="Unknown column 'tenant'"):
        validate_filter("tenant = 'a'", {"user_id"})


# --- refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "error", "message"),
    [
        ("", BadRequest, "empty"),
        ("   ;  ", BadRequest, "empty"),
        ("SELECT (", BadRequest, "line 1"),
        ("SELECT 1;\nSELECT * FROM secrets", BadRequest, "one statement"),
        ("DROP TABLE events", BadRequest, "Only SELECT"),
        ("INSERT INTO events VALUES (1)", BadRequest, "Only SELECT"),
        ("SHOW TABLES", BadRequest, "Only SELECT"),
        ("EXPLAIN SELECT 1", BadRequest, "Only SELECT"),
        ("USE system", BadRequest, "Only SELECT"),
        ("SET readonly = 0", BadRequest, "Only SELECT"),
        ("WITH x AS (INSERT INTO t VALUES (1)) SELECT 1", BadRequest, "Only SELECT"),
        ("SELECT * FROM secrets", Forbidden, "'secrets'"),
        ("SELECT * FROM system.tables", Forbidden, "system"),
        ("SELECT * FROM SYSTEM.tables", Forbidden, "SYSTEM"),
        ("SELECT * FROM INFORMATION_SCHEMA.tables", Forbidden, "INFORMATION_SCHEMA"),
        ("SELECT * FROM default.events", Forbidden, "default.events"),
        ("SELECT * FROM a.b.c", Forbidden, "a.b.c"),
        ("SELECT file('/etc/passwd')", Forbidden, "'file'"),
        ("SELECT `file`('/etc/passwd')", Forbidden, "'file'"),
        ("SELECT FILE('/etc/passwd')", Forbidden, "'FILE'"),
        ("SELECT * FROM file('/etc/passwd', 'LineAsString')", Forbidden, "'file'"),
        ("SELECT * FROM `file`('/etc/passwd')", Forbidden, "'file'"),
        ("SELECT currentDatabase()", Forbidden, "currentDatabase"),
        ("SELECT version()", Forbidden, "version"),
        ("SELECT getSetting('additional_table_filters')", Forbidden, "getSetting"),
        ("SELECT dictGet('d', 'a', 1)", Forbidden, "dictGet"),
        ("SELECT joinGet('j', 'a', 1)", Forbidden, "joinGet"),
        ("SELECT * FROM merge(currentDatabase(), '^events$')", Forbidden, "merge"),
        ("SELECT * FROM remote('127.0.0.1', ws.events)", Forbidden, "remote"),
        ("SELECT * FROM view(SELECT * FROM events)", Forbidden, "view"),
        ("SELECT * FROM dictionary('d')", Forbidden, "dictionary"),
        ("SELECT * FROM values('a UInt8', 1)", Forbidden, "values"),
        ("SELECT * FROM format(JSONEachRow, '{}')", Forbidden, "format"),
        ("SELECT * FROM generate_series(1, 2)", Forbidden, "generate_series"),
        ("SELECT * FROM mergeTreeIndex('ws', 'events')", Forbidden, "mergeTreeIndex"),
        ("SELECT * FROM pv(uid = 43)", Forbidden, "pv"),
        ("SELECT * FROM numbers(10000001)", QueryLimitExceeded, "10000000"),
        ("SELECT * FROM numbers(rand())", BadRequest, "literal"),
        ("SELECT * FROM {t:Identifier}", BadRequest, "placeholders"),
        ("SELECT {x:UInt32}", BadRequest, "placeholders"),
        ("SELECT 1 SETTINGS readonly = 0", BadRequest, "SETTINGS"),
        ("SELECT * FROM (SELECT 1 SETTINGS max_threads = 1)", BadRequest, "SETTINGS"),
        ("SELECT * FROM (SELECT 1 FORMAT JSON)", BadRequest, "FORMAT"),
        ("SELECT 1 INTO OUTFILE '/tmp/x'", BadRequest, "Syntax error"),
        ("SELECT * FROM events PREWHERE user_id = 1", BadRequest, "PREWHERE"),
        ("SELECT * FROM events SAMPLE 0.1", BadRequest, "SAMPLE"),
        ("SELECT x FROM events ARRAY JOIN (SELECT groupArray(s) FROM secrets) AS x", BadRequest, "ARRAY JOIN"),
        ("SELECT 1 FROM events WHERE 'a' IN secrets", BadRequest, "IN"),
        ("SELECT 1 FROM events WHERE 'a' GLOBAL IN (secrets)", BadRequest, "IN"),
        ("SELECT 1 FROM events WHERE 'a' NOT IN ((ws.secrets))", BadRequest, "IN"),
        ("SELECT in('a', secrets)", BadRequest, "Syntax error"),
        ("SELECT _part, count() FROM events GROUP BY _part", Forbidden, "_part"),
        ("SELECT max(_part_offset) FROM events", Forbidden, "_part_offset"),
        ("SELECT events._block_number FROM events", Forbidden, "_block_number"),
        ("SELECT 1 FROM events AS a JOIN events AS b USING (_part)", Forbidden, "_part"),
        ("SELECT EXTRACT(`YEAR FROM x) , (SELECT 1` FROM t)", BadRequest, "Unsupported"),
        ("SELECT dateDiff('x) , (SELECT s FROM secrets) AS z --', a, b)", BadRequest, "Unsupported"),
        ("SELECT CAST(1 AS `Decimal((SELECT s FROM secrets), 2)`)", BadRequest, "type"),
        ("WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r", BadRequest, "RECURSIVE"),
        ("SELECT 1 AS __roost_t", BadRequest, "reserved"),
        ("SELECT * FROM events AS __roost_cte_1", BadRequest, "reserved"),
        ("SELECT * FROM t AS x(a, b)", BadRequest, "Column aliases"),
        ("SELECT arrayReduce('file', [1])", Forbidden, "arrayReduce"),
        ("SELECT arrayReduce(f, [1])", Forbidden, "arrayReduce"),
        ("SELECT 1 = ANY(SELECT 1)", BadRequest, "Unsupported"),
        ("SELECT * APPLY(toString) FROM events", Forbidden, "APPLY"),
        ("SELECT @x", BadRequest, "placeholders"),
        ("SELECT ?", BadRequest, "placeholders"),
        ("SELECT 'a\x00b'", BadRequest, "NUL"),
        ("SELECT timestampDiff('day', now(), now())", Forbidden, "timestampDiff"),
        ("SELECT " + "(" * 200 + "1" + ")" * 200, QueryLimitExceeded, "nested"),
        ("SELECT x" + "[1]" * 40, QueryLimitExceeded, "subscripts"),
        ("SELECT " + "NOT " * 3000 + "1", QueryLimitExceeded, "nested"),
        ("SELECT " + ", ".join(["1"] * 15000), QueryLimitExceeded, "tokens"),
        ("SELECT sum" + "If" * 3000 + "(1)", Forbidden, "not allowed"),
        ("(DROP TABLE events)", BadRequest, ""),
        ("SELECT 1 FROM events WHERE user_id IN (42, secrets)", BadRequest, "IN"),
        ("SELECT * FROM ws.numbers(10)", BadRequest, "qualified"),
    ],
)
def test_refused(sql: str, error: type[RoostError], message: str) -> None:
    with pytest.raises(error) as info:
        compile_select(sql, user)
    assert type(info.value) is error
    assert message in info.value.message


def test_deep_nesting_fails_closed_without_crashing() -> None:
    """20 000 nested subqueries crashed the compiled sqlglot parser (segfault); the token checks stop it."""
    sql = "SELECT * FROM " + "(SELECT * FROM " * 20000 + "events" + ")" * 20000
    with pytest.raises(QueryLimitExceeded):
        compile_select(sql, user)


def test_every_denied_function_is_refused() -> None:
    for name in sorted(F.DENIED_FUNCTIONS):
        with pytest.raises(RoostError):
            compile_select(f"SELECT {name}('x')", user)
        with pytest.raises(RoostError):
            compile_select(f"SELECT * FROM {name}('x')", user)


def test_allowed_functions_exist_and_are_not_in_denied_categories(engine: Chdb) -> None:
    """Every allowed name is a ClickHouse function (guards typos), none is from a denied category."""
    names, rows = engine.rows("SELECT name, categories, alias_to FROM system.functions")
    known = {r[0] for r in rows}
    category = {r[0]: r[1] for r in rows}
    target = {r[0]: r[2] for r in rows}
    denied = {"Dictionary", "Embedded Dictionary", "Internal", "Introspection", "AI", "Machine Learning",
              "Encryption", "Time Series", "NumericIndexedVector", "QBit"}
    for name in F.SCALAR_FUNCTION_NAMES | F.AGGREGATE_FUNCTION_NAMES:
        assert name in known, name
        assert category[target[name] or name] not in denied, name
    assert not F.DENIED_FUNCTIONS & (F.SCALAR_FUNCTION_NAMES | F.AGGREGATE_FUNCTION_NAMES)


def test_aggregate_combinators() -> None:
    for name in ("sumIf", "countDistinct", "uniqMergeState", "avgOrNull", "groupArrayArray", "sumMapIf",
                 "quantileIf", "argMaxIf", "sumForEach", "uniqExactIf"):
        assert F.function_allowed(name), name
    for name in ("fileIf", "dictGetOrNull", "joinGetOrNull", "currentUserIf", "sleepArray"):
        assert not F.function_allowed(name), name


# --- injection through regenerated text ----------------------------------------------------------------

PAYLOADS = ["x) , (SELECT leakmark FROM leakmark) --", "x' , (SELECT leakmark FROM leakmark) , '",
            "x\\' , (SELECT leakmark FROM leakmark) , \\'", "1 DAY) FROM leakmark --"]


def _leaks_code(out: str) -> bool:
    """Whether ``leakmark`` appears in the generated SQL outside a string literal or quoted identifier."""
    for tok in sqlglot.tokenize(out, read="clickhouse"):
        if "leakmark" in tok.text.lower() and tok.token_type.name not in ("STRING", "IDENTIFIER", "HEREDOC_STRING"):
            return True
    return False


def test_no_function_turns_a_string_argument_into_code() -> None:
    """sqlglot turns some string arguments into unquoted text (dateDiff's unit, EXTRACT's part). For every
    allowed function and argument position, a payload in a string or quoted identifier stays data."""
    names = sorted(F.SCALAR_FUNCTION_NAMES | F.AGGREGATE_FUNCTION_NAMES) + ["EXTRACT", "CAST", "TRIM", "INTERVAL"]
    checked = 0
    for name in names:
        for payload in PAYLOADS:
            lit = "'" + payload.replace("\\", "\\\\").replace("'", "\\'") + "'"
            ident = "`" + payload.replace("`", "``") + "`"
            for args in (lit, f"x, {lit}", f"{lit}, x", f"x, y, {lit}", ident, f"x, {ident}", f"{ident}, x"):
                sql = f"SELECT {name}({args}) FROM events"
                try:
                    out = compile_select(sql, user).sql
                except RoostError:
                    continue
                checked += 1
                assert not _leaks_code(out), (sql, out)
    assert checked > 5000


SYNTAX_TEMPLATES = [
    "EXTRACT({i} FROM timestamp)", "CAST(price AS {i})", "price::{i}", "TRIM(BOTH {s} FROM event_type)",
    "TRIM(LEADING {s} FROM event_type)", "INTERVAL {s}", "INTERVAL 1 {i}", "DATE {s}", "TIMESTAMP {s}",
    "SUBSTRING(event_type FROM {s})", "POSITION({s} IN event_type)", "toStartOfInterval(timestamp, INTERVAL {s})",
    "dateDiff({i}, timestamp, timestamp)", "COLUMNS({s})", "tupleElement((1, 2), {s})", "events.{i}",
    "JSONExtract({s}, {s}, {s})", "JSONExtractString({s}, {s}, 1)", "{s} {s}", "{s} || {s}", "{s} AS {i}",
    "sum(price) OVER (ORDER BY timestamp ROWS BETWEEN {s} PRECEDING AND CURRENT ROW)", "{i}", "{i}.{i}",
    "CAST(price AS Enum8({s} = 1))", "map({s}, 1)[{s}]", "[{s}][1]", "toDateTime({s}, {s})", "x -> {s}",
    "count() FILTER (WHERE event_type = {s})", "dateTrunc({s}, timestamp)", "date_trunc({s}, timestamp)",
    "DATE_DIFF({s}, timestamp, timestamp)", "toStartOfDay(timestamp, {s})", "formatDateTime(timestamp, {s})",
]


def test_no_special_syntax_turns_text_into_code() -> None:
    checked = 0
    for template in SYNTAX_TEMPLATES:
        for payload in PAYLOADS:
            lit = "'" + payload.replace("\\", "\\\\").replace("'", "\\'") + "'"
            ident = "`" + payload.replace("`", "``") + "`"
            sql = f"SELECT {template.format(s=lit, i=ident)} FROM events"
            try:
                out = compile_select(sql, user).sql
            except RoostError:
                continue
            checked += 1
            assert not _leaks_code(out), (sql, out)
    assert checked > 60


# --- typed-function fidelity ----------------------------------------------------------------------------

_SRC = (
    "(SELECT number AS n, toString(number) AS s, number * 1.5 AS f, "
    "toDateTime('2024-01-02 03:04:05', 'UTC') + number * 3600 AS t, toDate('2024-01-02') + number AS dt, "
    "[number, number + 1] AS arr, 'a,b,c' AS csv, 'https://x.com/a?b=1' AS u, '{\"a\": 1}' AS j FROM numbers(5))"
)
_ARGS = ["", "n", "s", "f", "t", "dt", "arr", "'DAY', t", "'day', t, t", "s, 'a'", "s, 1", "s, 1, 2", "n, 2",
         "f, 2", "arr, 1", "x -> x + 1, arr", "x -> x > 1, arr", "csv, ','", "',', csv", "s, 'x', 'y'",
         "n > 1, 1, 2", "n, n", "f, f", "t, 'UTC'", "t, '%Y-%m-%d'", "j, 'a'", "u", "0.5, f", "arr, arr",
         "'a', 1, 'b', 2", "'2024-01-02', '%Y-%m-%d'"]


def _typed_calls() -> list[tuple[str, str]]:
    """(name, args) of allowed functions that sqlglot parses into a typed class."""
    calls = []
    for name in sorted(F.SCALAR_FUNCTION_NAMES | F.AGGREGATE_FUNCTION_NAMES):
        for args in ("", "a", "a, b", "a, b, c"):
            try:
                node = sqlglot.parse_one(f"SELECT {name}({args})", read="clickhouse").expressions[0]
            except Exception:  # sqlglot raises IndexError/ValueError on some argument counts
                continue
            if type(node) not in F.NAMED_CALL_CLASSES and isinstance(node, exp.Func):
                calls.append((name, args))
                break
    return calls


def test_typed_function_fidelity(engine: Chdb) -> None:
    """For every allowed function that sqlglot turns into a typed node, the compiled SQL gives the same
    result and type as the caller's SQL (toStartOfDay -> dateTrunc('DAY') and the like)."""
    compared = 0
    for name, _ in _typed_calls():
        for args in _ARGS:
            raw = f"SELECT {name}({args}) AS r FROM {_SRC}"
            try:
                expected = engine.rows(raw, reopen=False)
            except EngineFailure:
                continue
            if name.lower() in ("rand", "rand32", "rand64", "randcanonical", "now", "now64", "current_timestamp",
                                "localtimestamp", "localtime", "utctimestamp", "utc_timestamp"):
                break  # not deterministic; the rewrite is checked in test_functions_rewritten_by_sqlglot
            try:
                out = compile_select(raw, user).sql
            except Forbidden:
                # a typed class left out of FUNCTION_CLASSES on purpose (timestampDiff loses its arguments)
                node = sqlglot.parse_one(raw, read="clickhouse").expressions[0].this
                assert type(node) not in F.FUNCTION_CLASSES, raw
                break
            except BadRequest:
                continue  # sqlglot cannot parse this argument list (array_to_string(arr)): over-blocking only
            got = engine.rows(out, reopen=False)
            assert got == expected, (raw, out)
            compared += 1
            break
    assert compared > 150


# --- attacks on the engine -------------------------------------------------------------------------------

ATTACKS = [
    # plain reads
    "SELECT count() AS n FROM events",
    "SELECT user_id, count() AS n FROM events GROUP BY user_id",
    "SELECT concat('LEAK_', toString(user_id)) FROM events",
    "SELECT * FROM events WHERE user_id = 43",
    "SELECT * FROM events WHERE 1 OR user_id != 42",
    # alias visibility (finding 9)
    "SELECT count() AS n FROM (SELECT event_type, price, 43 AS user_id FROM events WHERE user_id = 43)",
    "WITH 43 AS user_id SELECT count() AS n FROM events WHERE user_id = 43",
    "SELECT count() AS n FROM events WHERE (43 AS user_id) = 43",
    "SELECT count() AS n FROM events AS e WHERE e.user_id = 43 OR 1",
    # CTE scoping (finding 8)
    "WITH events AS (SELECT * FROM events) SELECT count() AS n FROM events",
    "WITH a AS (SELECT * FROM events), events AS (SELECT 42 AS user_id) SELECT count() AS n FROM a",
    "WITH 'secrets' AS events SELECT count() AS n FROM events",
    "SELECT count() AS n FROM events WHERE user_id IN (WITH events AS (SELECT 1) SELECT user_id FROM events)",
    "SELECT count() AS n FROM (WITH events AS (SELECT * FROM events) SELECT * FROM events)",
    # errors as oracles (evaluated on filtered rows only)
    "SELECT toUInt8(concat('LEAK_', toString(user_id))) FROM events",
    "SELECT * FROM events WHERE if(user_id != 42, toUInt8(concat('LEAK_', toString(user_id))), 0) = 0",
    "SELECT * FROM events WHERE throwIf(user_id = 43, 'LEAK_43') = 0",
    "SELECT intDiv(1, toInt32(user_id) - 43) FROM events",
    "SELECT * FROM events ORDER BY toUInt8(concat('LEAK_', toString(user_id)))",
    "SELECT sum(toUInt8(concat('LEAK_', toString(user_id)))) FROM events",
    "SELECT * FROM events AS a JOIN events AS b ON toUInt8(concat('LEAK_', toString(b.user_id))) = 1",
    "SELECT CAST(concat('LEAK_', toString(user_id)) AS Enum8('a' = 1)) FROM events",
    "SELECT * FROM events PREWHERE if(user_id != 42, toUInt8(concat('LEAK_', toString(user_id))), 0) = 0",
    # joins, subqueries, set operations
    "SELECT count() AS n FROM events AS a, events AS b WHERE a.timestamp = b.timestamp",
    "SELECT count() AS n FROM events AS a LEFT JOIN events AS b ON a.user_id != b.user_id",
    "SELECT (SELECT count() FROM events) AS n",
    "SELECT user_id FROM events UNION ALL SELECT user_id FROM events",
    "SELECT user_id FROM events EXCEPT SELECT 43",
    "SELECT * FROM (SELECT * FROM (SELECT * FROM events))",
    "SELECT count() AS n FROM events WHERE user_id GLOBAL IN (SELECT user_id FROM events)",
    # ARRAY JOIN and IN with tables (finding 5)
    "SELECT x FROM events ARRAY JOIN (SELECT groupArray(s) FROM secrets) AS x",
    "SELECT 1 FROM events WHERE 'TOPSECRET' IN secrets",
    "SELECT 'TOPSECRET' IN (ws.secrets)",
    "SELECT arrayJoin((SELECT groupArray(s) FROM secrets))",
    "SELECT x FROM events ARRAY JOIN [(SELECT any(s) FROM secrets)] AS x",
    # odd FROM forms
    "SELECT * FROM (secrets)",
    "SELECT * FROM ((secrets))",
    "SELECT * FROM events, (secrets)",
    "SELECT * FROM events CROSS JOIN (secrets)",
    "SELECT * FROM events AS e PASTE JOIN secrets AS s",
    "SELECT * FROM events ARRAY JOIN secrets",
    "SELECT * FROM events AS e LEFT ARRAY JOIN e.secrets AS x",
    "SELECT * FROM (events AS e)",
    "SELECT * FROM (SELECT 1) AS a, secrets",
    "SELECT (secrets)",
    "SELECT * FROM events AS ws WHERE 1",
    "WITH ws.secrets AS x SELECT * FROM x",
    "WITH secrets AS events SELECT * FROM events",
    "WITH (SELECT any(s) FROM secrets) AS x SELECT x",
    "WITH secrets AS (SELECT 1 AS s) SELECT s FROM secrets",
    # other tables and databases
    "SELECT * FROM secrets",
    "SELECT * FROM ws.secrets",
    "SELECT * FROM ws.events",
    "SELECT * FROM `ws`.`events`",
    'SELECT * FROM "sec\\x72ets"',
    "SELECT * FROM `ev\\x65nts` WHERE user_id = 43",
    "SELECT * FROM events_42",
    "SELECT * FROM system.tables",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM INFORMATION_SCHEMA.TABLES",
    "SELECT * FROM tinybird.pipe_stats_rt",
    "SELECT * FROM merge(currentDatabase(), '^events$')",
    "SELECT * FROM merge('ws', '^events$')",
    "SELECT * FROM loop(events)",
    "SELECT * FROM view(SELECT * FROM ws.events)",
    "SELECT * FROM viewIfPermitted(SELECT * FROM ws.events ELSE null('user_id UInt32'))",
    "SELECT * FROM mergeTreeIndex('ws', 'events', with_marks = true)",
    "SELECT * FROM mergeTreeProjection('ws', 'events', 'p')",
    "SELECT * FROM remote('127.0.0.1', ws.events)",
    "SELECT * FROM cluster('default', ws.events)",
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:1/', CSV)",
    "SELECT * FROM s3('http://127.0.0.1:1/x.csv')",
    "SELECT * FROM executable('cat /etc/passwd', 'LineAsString', 'x String')",
    "SELECT * FROM input('x String')",
    "SELECT * FROM generateRandom('user_id UInt32')",
    "SELECT * FROM fuzzQuery(ws.secrets, 10)",
    "SELECT * FROM eval('SELECT * FROM ws.secrets')",
    "SELECT * FROM pv(uid = 43)",
    "SELECT * FROM {t:Identifier}",
    "SELECT * FROM numbers(100000000000)",
    "SELECT * FROM dictionary('secrets_dict')",
    "SELECT * FROM values('s String', 'x')",
    "SELECT * FROM format(CSV, 'x')",
    # scalar functions with table or host access
    "SELECT file('/etc/passwd')",
    "SELECT `file`('/etc/passwd')",
    "SELECT user_id, file(concat('/etc/', 'passwd')) FROM events",
    "SELECT joinGet('ws.secrets', 's', 1)",
    "SELECT dictGet('secrets_dict', 's', 1)",
    "SELECT hasColumnInTable('ws', 'secrets', 's')",
    "SELECT getSetting('additional_table_filters')",
    "SELECT currentDatabase(), currentUser(), version(), hostName()",
    "SELECT addressToLine(toUInt64(1))",
    "SELECT sleep(3)",
    "SELECT in('TOPSECRET', ws.secrets)",
    "SELECT globalIn('TOPSECRET', ws.secrets)",
    "SELECT arrayReduce('groupArray', [(SELECT any(s) FROM secrets)])",
    "SELECT initializeAggregation('anyState', (SELECT any(s) FROM secrets))",
    # virtual columns (finding 6)
    "SELECT max(_part_offset) - min(_part_offset) + 1 - count() AS n FROM events",
    "SELECT _part, _block_number FROM events",
    "SELECT COLUMNS('_part.*') FROM events",
    "SELECT * EXCEPT (user_id) FROM events WHERE _partition_id != ''",
    # statements, settings, formats (findings 2, 3, 4, 7, 12)
    "SELECT 1; SELECT * FROM ws.secrets",
    "SELECT * FROM events; DROP TABLE ws.events",
    "SELECT * FROM events SETTINGS additional_table_filters = {'ws.events': '1'}",
    "SELECT * FROM (SELECT * FROM ws.events SETTINGS additional_table_filters = {'ws.events': '1'})",
    "SELECT 1 INTO OUTFILE '/tmp/roost_leak'",
    "SELECT 1 FORMAT Template SETTINGS format_template_resultset = '/etc/passwd'",
    "SELECT * FROM events FORMAT Template",
    "USE system",
    "SET readonly = 0",
    "EXPLAIN ESTIMATE SELECT * FROM events",
    "KILL QUERY WHERE 1",
    "SYSTEM STOP MERGES",
    "WITH x AS (INSERT INTO ws.events SELECT * FROM ws.events) SELECT 1",
    "DESCRIBE ws.secrets",
    "SHOW CREATE TABLE ws.secrets",
    # lexer differentials (finding 11)
    "SELECT 4 // 2, (SELECT count() FROM secrets)",
    "SELECT 1 /* /* */ -- */ , (SELECT any(s) FROM secrets)",
    "SELECT 1 # comment\n, (SELECT any(s) FROM secrets)",
    "SELECT $$a$$, (SELECT any(s) FROM secrets)",
    "SELECT 'a\\' , (SELECT any(s) FROM secrets) , '",
    "SELECT 1 --\r, (SELECT any(s) FROM secrets)",
    "SELECT\u00a0*\u00a0FROM\u00a0secrets",
    "SELECT * FROM еvents",
    # regenerated-text injection
    "SELECT EXTRACT(`YEAR FROM timestamp) , (SELECT any(s) FROM ws.secrets) AS leak, (SELECT 1` FROM events)",
    "SELECT dateDiff('day) , (SELECT any(s) FROM ws.secrets) AS leak --', timestamp, timestamp) FROM events",
    "SELECT CAST(1 AS `Decimal((SELECT any(s) FROM ws.secrets), 2)`)",
    "SELECT JSONExtractString('{}', 'a\\' , (SELECT any(s) FROM ws.secrets) , \\'')",
    "SELECT INTERVAL '1 DAY) , (SELECT any(s) FROM ws.secrets) --'",
    # placeholders and parameters (finding 14)
    "SELECT * FROM events WHERE user_id = {uid:UInt32}",
    "SELECT * FROM events WHERE user_id = ?",
    "SELECT * FROM events WHERE user_id = @uid",
]


@pytest.mark.parametrize("sql", ATTACKS)
def test_attack_cannot_leak(engine: Chdb, sql: str) -> None:
    try:
        c = compile_select(sql, user)
    except RoostError as e:
        assert e.status in (400, 403), e.message
        assert SECRET not in e.message
        return
    assert c.table_filters in ({}, {"ws.events": "user_id = 42"})
    check_no_leak(engine, c)


ORACLES = [
    "SELECT count() AS n FROM events WHERE intDiv(1, toInt32(user_id) - 43) > -100000",
    "SELECT count() AS n FROM events WHERE throwIf(user_id = 43, 'oracle') = 0",
    "SELECT count() AS n FROM events WHERE toUInt8(if(user_id = 42, '1', 'x')) = 1",
    "SELECT count() AS n FROM events WHERE user_id = 42 OR throwIf(1, 'oracle') = 0",
    "SELECT count() AS n FROM events WHERE throwIf(user_id != 42, 'oracle') = 0 AND price >= 0",
    "SELECT count() AS n FROM events AS a JOIN events AS b ON a.timestamp = b.timestamp "
    "WHERE throwIf(b.user_id != 42, 'oracle') = 0",
    "SELECT count() AS n FROM events WHERE user_id IN (SELECT user_id FROM events WHERE throwIf(user_id = 43) = 0)",
    "SELECT count() AS n FROM (SELECT * FROM events) WHERE throwIf(user_id != 42) = 0",
    "SELECT count() AS n FROM (SELECT * FROM events WHERE throwIf(user_id != 42) = 0)",
    "WITH e AS (SELECT * FROM events) SELECT count() AS n FROM e WHERE throwIf(user_id != 42) = 0",
    "SELECT sum(throwIf(user_id != 42)) + count() AS n FROM events",
    "SELECT count() AS n FROM events GROUP BY throwIf(user_id != 42)",
    "SELECT count() AS n FROM events HAVING throwIf(max(user_id) != 42) = 0",
    "SELECT max(n) AS n FROM (SELECT row_number() OVER (ORDER BY throwIf(user_id != 42)) AS n FROM events)",
    "SELECT count() AS n FROM events WHERE event_type IN ('buy', 'view', 'click') AND throwIf(user_id = 1) = 0",
]


@pytest.mark.parametrize("sql", ORACLES)
def test_error_oracles_see_only_filtered_rows(engine: Chdb, sql: str) -> None:
    """A condition that fails on another user's row never runs on one: the engine may push predicates
    down, but never below the filtered subquery (PREWHERE, which would, is refused)."""
    result = check_no_leak(engine, compile_select(sql, user))
    assert result is not None, "the oracle fired"
    assert result[1] == [[100]]


def test_user_42_sees_exactly_its_rows(engine: Chdb) -> None:
    c = compile_select("SELECT count() AS n, min(user_id) AS a, max(user_id) AS b FROM events", user)
    result = check_no_leak(engine, c)
    assert result is not None and result[1] == [[100, 42, 42]]


def test_admin_reads_everything(engine: Chdb) -> None:
    names, rows = engine.rows(compile_select("SELECT count() AS c FROM events", admin).sql)
    assert rows == [[10000]]
    names, rows = engine.rows(compile_select("SELECT s FROM secrets", admin).sql)
    assert rows == [[SECRET]]
