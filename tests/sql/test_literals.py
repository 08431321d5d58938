"""roost.sql.literals: the one path from a value to SQL text.

Invariant: a literal reads back as exactly the value it was made from, in ClickHouse (chDB) and
after a sqlglot parse/generate round trip; no value can end the literal or start a comment.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import chdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roost.sql.literals import (
    coerce,
    element_literal,
    identifier,
    normalize_type,
    string_literal,
    typed_literal,
)

HOSTILE_STRINGS = [
    "",
    "plain",
    "a'b",
    "'",
    "''",
    "\\",
    "\\'",
    "a\\'b",
    "\\\\'",
    "'; DROP TABLE users; --",
    "x' OR '1'='1",
    "line1\nline2",
    "\r\n",
    "tab\there",
    "nul\x00byte",
    "\x00",
    "bell\x07 esc\x1b del\x7f ctrl\x01\x1f",
    "-- comment",
    "/* comment */",
    "*/",
    "{{ x }}",
    "{% import os %}",
    "{# c #}",
    "%",
    "50%_off",
    "`backtick`",
    '"double"',
    "unicode: ñ 中文 😀",
    "homoglyph quotes: ʼ ＇ ‘ ’ ‛ ′",
    "fullwidth backslash ＼",
    "\u2028\u2029\u0085",
    "\\x41",
    "\\0",
    "\\n",
    "?",
    "{x: String}",
    "$1",
]


def _chdb_one(sql: str) -> dict[str, object]:
    out = chdb.query(sql, "JSONEachRow").bytes().decode()
    rows = [json.loads(line) for line in out.split("\n") if line.strip()]
    assert len(rows) == 1, out
    return rows[0]


# --- string_literal ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "'abc'"),
        ("a'b", "'a\\'b'"),
        ("a\\b", "'a\\\\b'"),
        ("\\'", "'\\\\\\''"),
        ("a\nb", "'a\\nb'"),
        ("a\rb", "'a\\rb'"),
        ("a\tb", "'a\\tb'"),
        ("a\x00b", "'a\\0b'"),
        ("a\x01b", "'a\\x01b'"),
        ("a\x1fb", "'a\\x1fb'"),
        ("a\x7fb", "'a\\x7fb'"),
        ("ñ😀", "'ñ😀'"),
        ('"', "'\"'"),
        ("%_", "'%_'"),
    ],
)
def test_string_literal_escapes(value: str, expected: str) -> None:
    assert string_literal(value) == expected


@pytest.mark.parametrize("value", HOSTILE_STRINGS)
def test_string_literal_has_no_raw_quote_or_control(value: str) -> None:
    lit = string_literal(value)
    inner = lit[1:-1]
    # Every quote inside is escaped, and no control character is left raw.
    i = 0
    while i < len(inner):
        if inner[i] == "\\":
            i += 2
            continue
        assert inner[i] != "'"
        assert ord(inner[i]) >= 0x20 and inner[i] != "\x7f"
        i += 1


@pytest.mark.parametrize("value", HOSTILE_STRINGS)
def test_string_literal_round_trips_in_chdb(value: str) -> None:
    assert _chdb_one(f"SELECT {string_literal(value)} AS s")["s"] == value


@pytest.mark.parametrize("value", HOSTILE_STRINGS)
def test_string_literal_round_trips_through_sqlglot(value: str) -> None:
    sql = f"SELECT {string_literal(value)} AS s"
    regenerated = sqlglot.parse_one(sql, read="clickhouse").sql("clickhouse")
    assert _chdb_one(regenerated)["s"] == value


def test_string_literal_is_one_expression_for_sqlglot() -> None:
    sql = f"SELECT 1 WHERE x = {string_literal(chr(39) + '; DROP TABLE t; --')}"
    tree = sqlglot.parse_one(sql, read="clickhouse")
    literals = list(tree.find_all(sqlglot.exp.Literal))
    assert any(lit.this == "'; DROP TABLE t; --" for lit in literals)
    assert not list(tree.find_all(sqlglot.exp.Drop))


_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_any_text_round_trips_in_chdb(value: str) -> None:
    assert _chdb_one(f"SELECT {string_literal(value)} AS s")["s"] == value


def test_string_literal_rejects_surrogates_and_non_strings() -> None:
    with pytest.raises(ValueError):
        string_literal("a\ud800b")
    with pytest.raises(TypeError):
        string_literal(5)  # type: ignore[arg-type]


# --- identifier -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a", "`a`"),
        ("a.b", "`a`.`b`"),
        ("json.a.b", "`json`.`a`.`b`"),
        ("with space", "`with space`"),
        ("a`b", "`a\\`b`"),
        ("a\\b", "`a\\\\b`"),
        ("naïve", "`naïve`"),
        ("select", "`select`"),
    ],
)
def test_identifier(name: str, expected: str) -> None:
    assert identifier(name) == expected


def test_identifier_without_dot_splitting() -> None:
    assert identifier("a.b", split_dots=False) == "`a.b`"


@pytest.mark.parametrize("name", ["", ".", "a.", ".a", "a..b", "a\x00b", "a\nb", "a\x7f", "a\ud800"])
def test_identifier_rejects(name: str) -> None:
    with pytest.raises(ValueError):
        identifier(name)


@pytest.mark.parametrize("name", ["a", "a`b", "a\\b", "x`; DROP TABLE t; --", "a'b", 'a"b', "--", "/*"])
def test_identifier_round_trips_in_chdb(name: str) -> None:
    sql = f"SELECT 1 AS {identifier(name, split_dots=False)}"
    assert list(_chdb_one(sql)) == [name]
    regenerated = sqlglot.parse_one(sql, read="clickhouse").sql("clickhouse")
    assert list(_chdb_one(regenerated)) == [name]


# --- typed_literal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ch_type", "expected"),
    [
        ("5", "Int32", "toInt32('5')"),
        (5, "Int32", "toInt32('5')"),
        (" 5 ", "Int32", "toInt32('5')"),
        ("-128", "Int8", "toInt8('-128')"),
        ("127", "Int8", "toInt8('127')"),
        ("255", "UInt8", "toUInt8('255')"),
        ("0", "UInt64", "toUInt64('0')"),
        ("18446744073709551615", "UInt64", "toUInt64('18446744073709551615')"),
        (str(2**255 - 1), "Int256", f"toInt256('{2**255 - 1}')"),
        (str(-(2**255)), "Int256", f"toInt256('{-(2**255)}')"),
        (str(2**256 - 1), "UInt256", f"toUInt256('{2**256 - 1}')"),
        ("5", "Int", "5"),
        ("-7", "Integer", "-7"),
        ("1", "Float32", "toFloat32('1.0')"),
        ("-1", "Float64", "toFloat64('-1.0')"),
        ("1.5e3", "Float64", "toFloat64('1500.0')"),
        (".5", "Float32", "toFloat32('0.5')"),
        ("1", "Boolean", "1"),
        ("0", "Boolean", "0"),
        ("true", "Boolean", "1"),
        ("FALSE", "Boolean", "0"),
        (True, "bool", "1"),
        ("2019-01-01", "Date", "'2019-01-01'"),
        (date(2020, 2, 29), "Date", "'2020-02-29'"),
        ("2019-01-01 10:11:12", "DateTime", "'2019-01-01 10:11:12'"),
        ("2019-01-01T10:11:12", "DateTime", "'2019-01-01 10:11:12'"),
        (datetime(2019, 1, 1, 10, 11, 12), "DateTime", "'2019-01-01 10:11:12'"),
        ("2020-09-09 10:10:10.000", "DateTime64", "'2020-09-09 10:10:10.000'"),
        ("2020-09-09 10:10:10", "DateTime64", "'2020-09-09 10:10:10'"),
        ("a'b", "String", "'a\\'b'"),
        ("1,2,3", "Array(Int32)", "[1,2,3]"),
        (["1", "2"], "Array(Int32)", "[1,2]"),
        ("a,b", "Array(String)", "['a','b']"),
        (["a,b", "c'"], "Array(String)", "['a,b','c\\'']"),
        ("1.5,2", "Array(Float64)", "[1.5,2.0]"),
        ("2019-01-01", "Array(Date)", "['2019-01-01']"),
        ("true,0", "Array(Boolean)", "[1,0]"),
    ],
)
def test_typed_literal(value: object, ch_type: str, expected: str) -> None:
    assert typed_literal(value, ch_type) == expected


@pytest.mark.parametrize(
    ("value", "ch_type"),
    [
        ("abc", "Int32"),
        ("", "Int32"),
        ("1.5", "Int32"),
        ("1_000", "Int32"),
        ("0x10", "Int32"),
        ("2147483648", "Int32"),
        ("2147483648", "Int"),
        ("-1", "UInt8"),
        ("256", "UInt8"),
        ("128", "Int8"),
        (str(2**256), "UInt256"),
        ("1" * 500, "Int256"),
        ("nan", "Float32"),
        ("inf", "Float64"),
        ("1e999", "Float64"),
        ("1,5", "Float64"),
        ("abc", "Float32"),
        ("2019-13-01", "Date"),
        ("2019-02-30", "Date"),
        ("2019-1-1", "Date"),
        ("20190101", "Date"),
        ("2019-01-01", "DateTime"),
        ("2019-01-01 25:00:00", "DateTime"),
        ("2019-01-01 10:00:00.123", "DateTime"),
        ("2019-01-01 10:00:00.1234567890", "DateTime64"),
        ("1,x", "Array(Int32)"),
        ("1", "Decimal(10,2)"),
        ("1", "Array(Array(Int32))"),
        ("a\ud800", "String"),
    ],
)
def test_typed_literal_rejects(value: object, ch_type: str) -> None:
    with pytest.raises(ValueError):
        typed_literal(value, ch_type)


def test_coerce_returns_python_values() -> None:
    assert coerce("5", "Int32") == 5
    assert coerce("1.25", "Float32") == 1.25
    assert coerce("yes", "Boolean") == 1
    assert coerce("", "Boolean") == 0
    assert coerce("1,2", "Array(UInt8)") == [1, 2]
    assert normalize_type("bool") == "Boolean"
    assert normalize_type("Array(bool)") == "Array(Boolean)"


def test_element_literal() -> None:
    assert element_literal("7", "Int64") == "7"
    assert element_literal("x", "String") == "'x'"


@pytest.mark.parametrize(
    ("value", "ch_type", "expected"),
    [
        ("5", "Int32", 5),
        (str(2**255 - 1), "Int256", str(2**255 - 1)),
        ("18446744073709551615", "UInt64", "18446744073709551615"),
        ("1.5", "Float64", 1.5),
        ("2019-01-01", "Date", "2019-01-01"),
        ("2019-01-01 10:11:12", "DateTime", "2019-01-01 10:11:12"),
        ("1,2,3", "Array(Int32)", [1, 2, 3]),
        ("a'b,c\\d", "Array(String)", ["a'b", "c\\d"]),
    ],
)
def test_typed_literals_mean_what_they_say_in_chdb(value: str, ch_type: str, expected: object) -> None:
    got = _chdb_one(f"SELECT {typed_literal(value, ch_type)} AS v")["v"]
    if isinstance(expected, str) and isinstance(got, int):
        got = str(got)
    assert got == expected


def test_docstring_examples() -> None:
    import doctest

    import roost.sql.literals as module

    assert doctest.testmod(module).failed == 0
