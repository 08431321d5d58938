"""Differential property test of the row filter, on a real chDB.

For random SELECTs over ``events`` (projections, aggregates, WHERE trees, GROUP BY/HAVING, ORDER BY + LIMIT,
subqueries, CTEs - including a CTE named ``events`` -, self joins, IN (SELECT ...), scalar subqueries,
UNION ALL), the query compiled for a token with ``user_id = 42`` and run on the full table returns exactly
what the same query returns when run directly on ``ws.events_42``, a copy holding only user 42's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.sql.compiler import compile_select
from tests.sql.test_compiler import Chdb, UserResolver

T = "{T}"  # the table: `events` for the compiler, `ws.events_42` for the reference run

resolver = UserResolver()


@pytest.fixture(scope="module")
def engine() -> Iterator[Chdb]:
    eng = Chdb()
    yield eng
    eng.close()


# --- query strategies --------------------------------------------------------------------------------

simple_conditions = st.one_of(
    st.builds("price > {}".format, st.integers(0, 100)),
    st.builds("price <= {}".format, st.integers(0, 100)),
    st.sampled_from(
        [
            "event_type = 'buy'",
            "event_type != 'view'",
            "event_type IN ('buy', 'click')",
            "user_id = 42",
            "user_id = 43",
            "user_id IN (41, 42, 43)",
            "user_id != 42",
            "toHour(timestamp) < 12",
            "timestamp >= toDateTime('2024-01-04 00:00:00', 'UTC')",
            "startsWith(event_type, 'c')",
            "price BETWEEN 10 AND 60",
            "1",
            "0",
        ]
    ),
    st.builds("user_id IN (SELECT user_id FROM {} WHERE price > {})".format, st.just(T), st.integers(0, 100)),
    st.builds("price > (SELECT avg(price) FROM {} WHERE event_type = '{}')".format, st.just(T),
              st.sampled_from(["buy", "view", "click"])),
    st.builds("EXISTS (SELECT 1 FROM {} WHERE price > {})".format, st.just(T), st.integers(90, 101)),
)

conditions = st.recursive(
    simple_conditions,
    lambda inner: st.one_of(
        st.builds("({} AND {})".format, inner, inner),
        st.builds("({} OR {})".format, inner, inner),
        st.builds("NOT ({})".format, inner),
    ),
    max_leaves=4,
)

aggregates = st.lists(
    st.sampled_from(
        [
            "count() AS c",
            "round(sum(price), 3) AS s",
            "round(avg(price), 3) AS a",
            "max(price) AS mx",
            "min(timestamp) AS mt",
            "uniqExact(event_type) AS u",
            "countIf(event_type = 'buy') AS cb",
            "max(user_id) AS mu",
            "arraySort(groupUniqArray(event_type)) AS ga",
            "quantileExact(0.5)(price) AS q",
        ]
    ),
    min_size=1,
    max_size=3,
    unique=True,
)

group_keys = st.lists(
    st.sampled_from(["event_type", "user_id", "toDate(timestamp)", "price > 50"]), max_size=2, unique=True
)

columns = st.lists(st.sampled_from(["user_id", "event_type", "price", "timestamp"]), min_size=1, max_size=4,
                   unique=True)


@st.composite
def sources(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["table", "alias", "subquery", "cte", "cte_named_events"]))
    if kind == "table":
        return T
    if kind == "alias":
        return f"{T} AS e"
    cond = draw(conditions)
    if kind == "subquery":
        return f"(SELECT * FROM {T} WHERE {cond}) AS s"
    name = "events" if kind == "cte_named_events" else "c"
    return f"@WITH {name} AS (SELECT * FROM {T} WHERE {cond})@{name}"


def _with(source: str) -> tuple[str, str]:
    """Split a source into (WITH clause, FROM item)."""
    if source.startswith("@"):
        _, with_, name = source.split("@")
        return with_ + " ", name
    return "", source


@st.composite
def aggregate_queries(draw: st.DrawFn) -> str:
    with_, src = _with(draw(sources()))
    keys = draw(group_keys)
    aggs = draw(aggregates)
    select = ", ".join([*keys, *aggs])
    sql = f"{with_}SELECT {select} FROM {src}"
    if draw(st.booleans()):
        sql += f" WHERE {draw(conditions)}"
    if keys:
        sql += " GROUP BY " + ", ".join(keys)
        if draw(st.booleans()):
            sql += f" HAVING count() > {draw(st.integers(0, 40))}"
    return sql


@st.composite
def row_queries(draw: st.DrawFn) -> str:
    with_, src = _with(draw(sources()))
    cols = draw(columns)
    sql = f"{with_}SELECT {', '.join(cols)} FROM {src}"
    if draw(st.booleans()):
        sql += f" WHERE {draw(conditions)}"
    # ORDER BY a total order (timestamp is unique) so that LIMIT picks the same rows
    sql += " ORDER BY " + ", ".join([*cols, "timestamp"] if "timestamp" not in cols else cols)
    sql += f" LIMIT {draw(st.integers(0, 120))}"
    return sql


@st.composite
def join_queries(draw: st.DrawFn) -> str:
    on = draw(st.sampled_from(["a.timestamp = b.timestamp", "a.event_type = b.event_type",
                               "a.user_id = b.user_id AND a.price < b.price"]))
    kind = draw(st.sampled_from(["JOIN", "LEFT JOIN", "INNER ANY JOIN"]))
    sql = f"SELECT count() AS c, round(sum(a.price), 3) AS s FROM {T} AS a {kind} {T} AS b ON {on}"
    if draw(st.booleans()):
        sql += f" WHERE a.price > {draw(st.integers(0, 100))}"
    return sql


@st.composite
def union_queries(draw: st.DrawFn) -> str:
    cond_a, cond_b = draw(conditions), draw(conditions)
    return (
        f"SELECT event_type, count() AS c FROM {T} WHERE {cond_a} GROUP BY event_type "
        f"UNION ALL SELECT 'total', count() FROM {T} WHERE {cond_b}"
    )


@st.composite
def scalar_queries(draw: st.DrawFn) -> str:
    return (
        f"SELECT (SELECT count() FROM {T} WHERE {draw(conditions)}) AS c1, "
        f"(SELECT max(price) FROM {T}) AS m"
    )


queries = st.one_of(aggregate_queries(), row_queries(), join_queries(), union_queries(), scalar_queries())


# --- the property --------------------------------------------------------------------------------------


def _normalized(rows: list[list[Any]]) -> list[str]:
    return sorted(repr(row) for row in rows)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(query=queries)
def test_compiled_query_equals_query_on_the_users_rows(engine: Chdb, query: str) -> None:
    compiled = compile_select(query.replace(T, "events"), resolver)
    names, rows = engine.rows(compiled.sql)
    ref_names, ref_rows = engine.rows(query.replace(T, "ws.events_42"))
    assert names == ref_names
    assert _normalized(rows) == _normalized(ref_rows), (query, compiled.sql)


def test_strategies_reach_every_shape() -> None:
    """The generator produces each kind of query (a guard against a strategy that silently narrows)."""
    seen: set[str] = set()

    @settings(max_examples=200, derandomize=True, database=None)
    @given(query=queries)
    def collect(query: str) -> None:
        for marker in ("WITH events AS", "WITH c AS", "UNION ALL", "JOIN", "IN (SELECT", "GROUP BY", "LIMIT",
                       "EXISTS", ") AS s"):
            if marker in query:
                seen.add(marker)

    collect()
    assert len(seen) == 9, seen
