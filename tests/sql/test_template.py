"""roost.sql.template: Tinybird's pipe template language.

Invariants: a request value becomes SQL only as an escaped literal or a validated typed literal;
values are data and are never rendered again as template text; a template cannot reach Python
objects, attributes, imports or unbounded work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

import chdb
import pytest
import sqlglot

from roost.errors import DOC_PARAMS, BadRequest, RoostError
from roost.sql.template import (
    CustomError,
    TemplateError,
    TemplateParam,
    is_template,
    parameters,
    render,
    render_template,
)
from roost.sql.template_eval import MAX_ARRAY_ITEMS, MAX_PARAM_CHARS


def r(body: str, params: Mapping[str, object] | None = None, **kw: object) -> str:
    """Render a template body (the ``%`` line is added here)."""
    return render("%\n" + body, params or {}, **kw)  # type: ignore[arg-type]


def err(body: str, params: Mapping[str, object] | None = None, **kw: object) -> str:
    with pytest.raises(TemplateError) as info:
        r(body, params, **kw)
    e = info.value
    assert e.status >= 400 and isinstance(e, BadRequest)
    return e.message


def _chdb_rows(sql: str) -> list[dict[str, object]]:
    out = chdb.query(sql, "JSONEachRow").bytes().decode()
    return [json.loads(line) for line in out.split("\n") if line.strip()]


# --- activation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("%\nSELECT 1", True),
        ("  \n %\nSELECT 1", True),
        ("% SELECT 1", True),
        ("%", True),
        ("SELECT 1", False),
        ("SELECT '%'", False),
        ("{% if x %}1{% end %}", False),
        ("", False),
    ],
)
def test_is_template(sql: str, expected: bool) -> None:
    assert is_template(sql) is expected


@pytest.mark.parametrize(
    "sql",
    ["SELECT {{x}} FROM t", "SELECT '{% import os %}'", "SELECT 1 -- %", "select * from t where a = '%'"],
)
def test_non_template_sql_is_unchanged(sql: str) -> None:
    assert render(sql, {"x": "1"}) == sql
    assert parameters(sql) == []


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("%\nSELECT 1", "SELECT 1"),
        ("%\r\nSELECT 1", "SELECT 1"),
        ("\n  %  \nSELECT 1", "SELECT 1"),
        ("% SELECT 1", " SELECT 1"),
        ("%SELECT {{Int(x, 2)}}", "SELECT 2"),
        ("%", ""),
    ],
)
def test_leading_percent_line_is_removed(sql: str, expected: str) -> None:
    assert render(sql, {}) == expected


# --- plain expressions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "params", "expected"),
    [
        ("SELECT {{x}}", {"x": "test"}, "SELECT 'test'"),
        ("SELECT {{x}}", {"x": "a'b"}, "SELECT 'a\\'b'"),
        ("SELECT {{ x }}", {"x": "';drop table users;"}, "SELECT '\\';drop table users;'"),
        ("SELECT {{x}}", {"x": ["a", "b"]}, "SELECT ['a','b']"),
        ("SELECT {{x}}", {"x": 1.0}, "SELECT 1.0"),
        ("SELECT {{x}}", {"x": 5}, "SELECT 5"),
        ("SELECT {{1 + 2}}", {}, "SELECT 3"),
        ("SELECT {{7 // 2}}, {{7 % 3}}, {{7 / 2}}, {{-3}}, {{+3}}", {}, "SELECT 3, 1, 3.5, -3, 3"),
        ("SELECT {{'a' + 'b'}}", {}, "SELECT 'ab'"),
        ("SELECT {{'ab' * 2}}", {}, "SELECT 'abab'"),
        ("SELECT {{[1, 2] + [3]}}", {}, "SELECT [1,2,3]"),
        ("SELECT {{(1, 'a')}}", {}, "SELECT [1,'a']"),
        ("SELECT {{True}}, {{False}}", {}, "SELECT true, false"),
        ("SELECT {{'x' if 1 > 2 else 'y'}}", {}, "SELECT 'y'"),
        ("SELECT {{x[0]}}, {{x[-1]}}, {{x[1:3]}}", {"x": "abcd"}, "SELECT 'a', 'd', 'bc'"),
        ("SELECT {{[1, 2, 3][1]}}", {}, "SELECT 2"),
        ("SELECT {{ {'a': 1}['a'] }}", {}, "SELECT 1"),
        ("SELECT {{'b' in x}}, {{'z' not in x}}", {"x": "abc"}, "SELECT true, true"),
        ("SELECT {{1 < 2 < 3}}, {{1 < 3 < 2}}", {}, "SELECT true, false"),
        ("SELECT {{x is None}}", {}, "SELECT true"),
        ("SELECT {{x is not None}}", {"x": ""}, "SELECT true"),
        ("SELECT {{x or 'dflt'}}", {}, "SELECT 'dflt'"),
        ("SELECT {{x and 'yes'}}", {"x": "1"}, "SELECT 'yes'"),
        ("SELECT {{not x}}", {"x": ""}, "SELECT true"),
        ("SELECT {{ 1 +\n 2 }}", {}, "SELECT 3"),
        ("SELECT {{{x}}}", {"x": "1"}, "SELECT {'1'}"),
        ("SELECT {{!x}}", {}, "SELECT {{x}}"),
        ("SELECT {%! if %}", {}, "SELECT {% if %}"),
        ("SELECT 1 {# a comment {{ x }} #}", {}, "SELECT 1 "),
        ("SELECT {", {}, "SELECT {"),
        ("SELECT {a}", {}, "SELECT {a}"),
    ],
)
def test_plain_expressions(body: str, params: dict[str, object], expected: str) -> None:
    assert r(body, params) == expected


def test_none_is_an_error_named_after_the_expression() -> None:
    assert (
        err("SELECT {{test}}", {"token": "x"}) == 'Template Syntax Error: expression "test" evaluated to null'
    )
    assert (
        err("SELECT {{testisasuperlongthingandwedontwanttoreturnthefullthing}}")
        == 'Template Syntax Error: expression "testisasuperlongthin..." evaluated to null'
    )


def test_unknown_parameters_are_ignored() -> None:
    assert r("SELECT {{Int32(a, 1)}}", {"zzz": "whatever", "token": "t"}) == "SELECT toInt32('1')"


# --- control flow -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "params", "expected"),
    [
        ("{% if defined(x) %}A{% else %}B{% end %}", {}, "B"),
        ("{% if defined(x) %}A{% else %}B{% end %}", {"x": ""}, "A"),
        ("{% if x %}A{% end %}", {}, ""),
        ("{% if x %}A{% end %}", {"x": ""}, ""),
        ("{% if x %}A{% end %}", {"x": "0"}, "A"),
        ("{% if x == 'a' %}A{% elif x == 'b' %}B{% elif x == 'c' %}C{% else %}D{% end %}", {"x": "c"}, "C"),
        ("{% if x == 'a' %}A{% elif x == 'b' %}B{% else %}D{% end %}", {}, "D"),
        ("{% if Int32(x, 1) %}1{% else %}2{% end %}", {}, "1"),
        ("{% if Int32(x, 1) > 5 %}big{% else %}small{% end %}", {"x": "9"}, "big"),
        ("{% if a %}{% if b %}AB{% else %}A{% end %}{% else %}-{% end %}", {"a": "1"}, "A"),
        ("{% for v in [1, 2, 3] %}{{v}},{% end %}", {}, "1,2,3,"),
        ("{% for v in x %}[{{v}}]{% end %}", {"x": ["a", "b"]}, "['a']['b']"),
        ("{% for i, v in enumerate(['a', 'b']) %}{{i}}{{v}}{% end %}", {}, "0'a'1'b'"),
        (
            "{% for v in range(5) %}{% if v == 1 %}{% continue %}{% end %}{% if v == 3 %}{% break %}{% end %}"
            "{{v}}{% end %}",
            {},
            "02",
        ),
        ("{% for v in [] %}x{% else %}empty{% end %}", {}, "empty"),
        ("{% for v in [1] %}{% break %}{% else %}not{% end %}", {}, ""),
        (
            "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{a}}{{b}} {% end %}{% end %}",
            {},
            "1'x' 1'y' 2'x' 2'y' ",
        ),
        ("{% set n = 0 %}{% while n < 3 %}{{n}}{% set n += 1 %}{% end %}", {}, "012"),
        ("{% set a = 'x' %}{{a}}", {}, "'x'"),
        ("{% set a, b = 1, 2 %}{{a + b}}", {}, "3"),
        ("{% set a = b = 4 %}{{a * b}}", {}, "16"),
        ("{% set limit = Int32(limit, 10) %}LIMIT {{limit}}", {"limit": "5"}, "LIMIT toInt32('5')"),
        ("{% set _total = sum(Array(t, 'Int32')) %}{{_total}}", {"t": "1,2"}, "3"),
        ("{% try %}{{Int32(x)}}{% except %}fallback{% end %}", {"x": "bad"}, "fallback"),
        ("{% try %}ok{% except %}no{% finally %}!{% end %}", {}, "ok!"),
        ("{% try %}{{error('boom')}}{% except as e %}{{e}}{% end %}", {}, "'boom'"),
        ("{% whitespace oneline %}SELECT\n   a,\n   b", {}, "SELECT a, b"),
        ("{% whitespace single %}SELECT   a\n\n\n  b", {}, "SELECT a\nb"),
        ("{% comment this is ignored %}x", {}, "x"),
    ],
)
def test_control_flow(body: str, params: dict[str, object], expected: str) -> None:
    assert r(body, params) == expected


def test_branches_not_taken_are_not_evaluated() -> None:
    body = "SELECT 1 {% if defined(x) %} WHERE a = {{Int32(x)}} AND b = {{String(y)}}{% end %}"
    assert r(body) == "SELECT 1 "
    assert r(body, {"x": "1", "y": "q"}) == "SELECT 1  WHERE a = toInt32('1') AND b = 'q'"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("SELECT {% if defined(x) %} x, 1", "Missing {% end %} block for if at line 2"),
        ("a\nb\n{% for x in y %}", "Missing {% end %} block for for at line 4"),
        ("{% if 1 %}{% while 0 %}{% end %}", "Missing {% end %} block for if at line 2"),
        ("{% end %}", "Template Syntax Error: Extra {% end %} block, line 2"),
        ("{% else %}", "Template Syntax Error: else outside if or for or while or try block"),
        ("{% for x in y %}{% elif 1 %}{% end %}", "Template Syntax Error: elif outside if block"),
        (
            "{% if 1 %}{% else %}{% elif 2 %}{% end %}",
            "Template Syntax Error: elif after else/finally, line 2",
        ),
        ("{% break %}", "Template Syntax Error: break outside loop, line 2"),
        ("{% if %}{% end %}", "Template Syntax Error: if missing expression, line 2"),
        ("{% %}", "Template Syntax Error: Empty statement, line 2"),
        ("{{ }}", "Template Syntax Error: Empty expression, line 2"),
        ("{{ x ", "Template Syntax Error: Missing end }} on line 2"),
        ("{% if x ", "Template Syntax Error: Missing end %} on line 2"),
        ("{# x ", "Template Syntax Error: Missing end #} on line 2"),
        ("{% frobnicate %}", "Template Syntax Error: unknown operator: 'frobnicate', line 2"),
        ("{% whitespace weird %}", "Template Syntax Error: invalid whitespace mode 'weird', line 2"),
        ("{% set %}", "Template Syntax Error: set missing statement, line 2"),
        ("{% set x.y = 1 %}", "Template Syntax Error: only names can be assigned in templates, line 2"),
        ("{% set x[0] = 1 %}", "Template Syntax Error: only names can be assigned in templates, line 2"),
        ("{% set 1 %}", "Template Syntax Error: set expects an assignment, line 2"),
        (
            "{% if defined((x) %}{% end %}",
            "Template Syntax Error: '(' was never closed in 'defined((x)', line 2",
        ),
    ],
)
def test_syntax_errors(body: str, message: str) -> None:
    assert err(body) == message


def test_parse_errors_point_at_the_line() -> None:
    assert err("SELECT\n1\n{{ x. }}").endswith("line 4")


# --- forbidden statements and the sandbox -----------------------------------------------------


@pytest.mark.parametrize(
    "word", ["import", "from", "extends", "include", "autoescape", "raw", "module", "apply", "block"]
)
def test_forbidden_statements(word: str) -> None:
    assert err(f"SELECT * FROM {{% {word} os %}}") == f"{word} is forbidden at <string>:2"


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        ("{% import os %}{{ os.popen('whoami').read() }}", "import is forbidden at <string>:2"),
        ("{% from os import popen %}", "from is forbidden at <string>:2"),
        ("{{ ().__class__ }}", "attribute access is not allowed"),
        ("{{ x.__class__ }}", "attribute access is not allowed"),
        ("{{ ''.join(['a']) }}", "attribute access is not allowed"),
        ("{{ (1).real }}", "attribute access is not allowed"),
        ("{{ __import__('os') }}", "name '__import__' is not allowed"),
        ("{{ __builtins__ }}", "name '__builtins__' is not allowed"),
        ("{% set __x = 1 %}", "name '__x' is not allowed"),
        ("{{ open('/etc/passwd') }}", "'open' is not a valid function, line 2"),
        ("{{ eval('1') }}", "'eval' is not a valid function"),
        ("{{ exec('1') }}", "'exec' is not a valid function"),
        ("{{ getattr(x, 'y') }}", "'getattr' is not a valid function"),
        ("{{ globals() }}", "'globals' is not a valid function"),
        ("{{ locals() }}", "'locals' is not a valid function"),
        ("{{ vars() }}", "'vars' is not a valid function"),
        ("{{ type(1) }}", "'type' is not a valid function"),
        ("{{ compile('1', 'a', 'eval') }}", "'compile' is not a valid function"),
        ("{{ print(1) }}", "'print' is not a valid function"),
        ("{{ whatever(passenger_count) }}", "'whatever' is not a valid function, line 2"),
        ("{{ (lambda: 1)() }}", "only template functions can be called"),
        ("{{ (lambda: 1) }}", "lambda is not allowed"),
        ("{{ [c for c in 'ab'] }}", "comprehensions are not allowed"),
        ("{{ {c: 1 for c in 'ab'} }}", "comprehensions are not allowed"),
        ("{{ list(c for c in 'ab') }}", "comprehensions are not allowed"),
        ("{{ String(*x) }}", "starred arguments are not allowed"),
        ("{{ String(**x) }}", "**kwargs is not allowed"),
        ("{{ {**x} }}", "**kwargs is not allowed"),
        ("{{ (y := 1) }}", "assignment expressions are not allowed"),
        ("{{ f'{x}' }}", "f-strings are not allowed"),
        ("{{ {1, 2} }}", "set literals are not allowed"),
        ("{{ b'x' }}", "constant b'x' is not allowed"),
        ("{{ ... }}", "constant Ellipsis is not allowed"),
        ("{{ 1j }}", "constant 1j is not allowed"),
        ("{{ 2 ** 8 }}", "Template Syntax Error: Invalid BinOp: Pow()"),
        ("{{ len([1] * 10**7) }}", "Template Syntax Error: Invalid BinOp: Pow()"),
        ("{% set x = 2 %}{% set x **= 2 %}", "Template Syntax Error: Invalid BinOp: Pow()"),
        ("{{ 1 << 4 }}", "Template Syntax Error: Invalid BinOp: LShift()"),
        ("{{ 1 | 2 }}", "Template Syntax Error: Invalid BinOp: BitOr()"),
        ("{{ ~1 }}", "Invert is not allowed"),
        ("{{ x @ y }}", "Template Syntax Error: Invalid BinOp: MatMult()"),
        ("{{ 1 if 1 else 2; 3 }}", "Template Syntax Error:"),
        ("{% for x.a in y %}{% end %}", "only names can be assigned"),
        ("{% for x in ().__class__.__subclasses__() %}{% end %}", "attribute access is not allowed"),
        ("{% if ().__class__ %}{% end %}", "attribute access is not allowed"),
        ("{% while ''.x %}{% end %}", "attribute access is not allowed"),
        ("{% set x = ().__class__ %}", "attribute access is not allowed"),
        ("{% try %}{% except Exception as __e %}{% end %}", "invalid except alias '__e'"),
    ],
)
def test_sandbox_rejects(body: str, message_part: str) -> None:
    assert message_part in err(body)


def test_sandbox_checks_even_branches_not_taken() -> None:
    assert "attribute access is not allowed" in err("{% if 0 %}{{ ().__class__ }}{% end %}")
    assert "Invalid BinOp: Pow()" in err("{% if 0 %}{{ 2 ** 2 }}{% end %}")


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        ("{{ 'a' * 1000000000 }}", "result too long"),
        ("{{ [1] * 1000000000 }}", "result too long"),
        (
            "{% set s = 'x' * 1000000 %}{% for i in range(30) %}{% set s = s + s %}{% end %}",
            "string too long",
        ),
        ("{% set n = 3 %}{% for i in range(100) %}{% set n = n * n %}{% end %}", "integer too large"),
        ("{% while True %}x{% end %}", "loops too many times"),
        ("{% while 1 %}{% end %}", "loops too many times"),
        ("{% for a in range(10000) %}{% for b in range(10000) %}{% end %}{% end %}", "loops too many times"),
        ("{{ range(100000000) }}", "range() is too long"),
        ("{% for i in range(10000) %}{{ 'x' * 1000000 }}{% end %}", "too large"),
        (
            "{% set s = 'x' * 1000000 %}{% for i in range(10000) %}{% if 'y' in s %}{% end %}{% end %}",
            "too much work",
        ),
        ("{{ " + "(" * 300 + "1" + ")" * 300 + " }}", "Template Syntax Error:"),
        ("{{ " + "1+" * 5000 + "1 }}", "Template Syntax Error:"),
        ("{{ " + "-" * 5000 + "1 }}", "Template Syntax Error:"),
    ],
)
def test_resource_limits(body: str, message_part: str) -> None:
    started = time.monotonic()
    assert message_part in err(body)
    assert time.monotonic() - started < 10


def test_deeply_nested_blocks_are_refused() -> None:
    body = "{% if 1 %}" * 150 + "x" + "{% end %}" * 150
    assert "nested too deeply" in err(body)


def test_limit_errors_are_not_caught_by_try() -> None:
    assert "loops too many times" in err("{% try %}{% while 1 %}{% end %}{% except %}caught{% end %}")


_AS_DATA = [
    ("SELECT {{ x }} AS v", lambda v: v),
    ("SELECT {{ String(x) }} AS v", lambda v: v),
    ("SELECT {{ sql_unescape(String(x), '%') }} AS v", lambda v: v),
    ("SELECT {{ Array(x, 'String') }} AS v", lambda v: v.split(",")),
    ("SELECT {{ split_to_array(x) }} AS v", lambda v: [s.strip() for s in v.split(",")]),
    (
        "SELECT [{% for last, v in enumerate_with_last(split_to_array(x)) %}{{v}}{% if not last %},{% end %}"
        "{% end %}] AS v",
        lambda v: [s.strip() for s in v.split(",")],
    ),
]


@pytest.mark.parametrize(("body", "expected"), _AS_DATA)
@pytest.mark.parametrize(
    "value",
    ["{{ 1 + 1 }}", "{% import os %}", "{{ ().__class__ }}", "{# #}", "%\n{{x}}", "' + {{x}} + '", "{{x}}"],
)
def test_values_are_data_and_never_rendered_again(body: str, expected: object, value: str) -> None:
    sql = r(body, {"x": value})
    assert "__class__" not in sql or "'" in sql
    assert _chdb_rows(sql) == [{"v": expected(value)}]  # type: ignore[operator]


# --- typed parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "params", "expected"),
    [
        ("{{String(x)}}", {"x": "tt"}, "'tt'"),
        ("{{String(x, 'test')}}", {}, "'test'"),
        ("{{String(x, default='d', description='the x', required=False)}}", {}, "'d'"),
        ("{{Int(x)}}", {"x": "10"}, "10"),
        ("{{Integer(x)}}", {"x": "-10"}, "-10"),
        ("LIMIT {{Int32(limit, 10)}}", {}, "LIMIT toInt32('10')"),
        ("{{Int8(x)}}", {"x": "-128"}, "toInt8('-128')"),
        ("{{Int16(x)}}", {"x": "300"}, "toInt16('300')"),
        ("{{Int64(x)}}", {"x": "9223372036854775807"}, "toInt64('9223372036854775807')"),
        ("{{Int128(x)}}", {"x": str(-(2**127))}, f"toInt128('{-(2**127)}')"),
        ("{{Int256(x)}}", {"x": str(2**255 - 1)}, f"toInt256('{2**255 - 1}')"),
        ("{{UInt8(x)}}", {"x": "255"}, "toUInt8('255')"),
        ("{{UInt16(x)}}", {"x": "0"}, "toUInt16('0')"),
        ("{{UInt32(x)}}", {"x": "4294967295"}, "toUInt32('4294967295')"),
        ("{{UInt64(x)}}", {"x": "5"}, "toUInt64('5')"),
        ("{{UInt128(x)}}", {"x": "5"}, "toUInt128('5')"),
        ("{{UInt256(x)}}", {"x": str(2**256 - 1)}, f"toUInt256('{2**256 - 1}')"),
        ("{{Float32(foo)}}", {"foo": "-1"}, "toFloat32('-1.0')"),
        ("{{Float32(foo)}}", {"foo": -1}, "toFloat32('-1.0')"),
        ("{{Float64(foo)}}", {"foo": "2.5"}, "toFloat64('2.5')"),
        ("{{Boolean(x)}}", {"x": "true"}, "1"),
        ("{{Boolean(x)}}", {"x": "False"}, "0"),
        ("{{Boolean(x)}}", {"x": "0"}, "0"),
        ("{{Boolean(x)}}", {"x": "1"}, "1"),
        ("{{Boolean(x)}}", {}, "0"),
        ("{{Boolean(x, True)}}", {}, "1"),
        ("{{bool(x, 'FALSE')}}", {}, "0"),
        ("{{Date(d)}}", {"d": "2019-01-01"}, "'2019-01-01'"),
        ("{{DateTime(d)}}", {"d": "2018-09-07 23:55:00"}, "'2018-09-07 23:55:00'"),
        ("{{DateTime(d)}}", {"d": "2018-09-07T23:55:00"}, "'2018-09-07 23:55:00'"),
        ("{{DateTime64(d, '2020-09-09 10:10:10.000')}}", {}, "'2020-09-09 10:10:10.000'"),
        ("{{DateTime64(d)}}", {"d": "2020-09-09 10:10:10.123456"}, "'2020-09-09 10:10:10.123456'"),
        ("{{Int32(x)}}", {"x": ["1", "2"]}, "toInt32('2')"),
        ("{{String(x)}}", {"x": ["a", "b"]}, "'b'"),
        ("{{Int32(page, 0) * Int32(page_size, 100)}}", {"page": "3"}, "300"),
        ("{{Int32(x, 5) + 1}}", {}, "6"),
        ("{{Array(foo)}}", {"foo": "a,b,c,d"}, "['a','b','c','d']"),
        ("{{Array(foo, 'Int32')}}", {"foo": "1,2,3,4"}, "[1,2,3,4]"),
        ("{{Array(foo, 'Int32')}}", {"foo": ["1", "2"]}, "[1,2]"),
        ("{{Array(foo, 'String')}}", {"foo": ["a,b", "c"]}, "['a,b','c']"),
        ("{{Array(foo, 'Float32')}}", {"foo": "1,2.5"}, "[1.0,2.5]"),
        ("{{Array(foo, 'UInt8')}}", {"foo": "1,255"}, "[1,255]"),
        ("{{Array(foo, 'Date')}}", {"foo": "2019-01-01,2019-01-02"}, "['2019-01-01','2019-01-02']"),
        ("{{Array(foo, 'Boolean')}}", {"foo": "1,false"}, "[1,0]"),
        ("{{Array(s, 'String', 'pre,pro')}}", {}, "['pre','pro']"),
        ("{{Array(s, 'String', 'pre,pro')}}", {"s": "hi,hello"}, "['hi','hello']"),
        ("{{Array(s, 'String', '')}}", {}, "['']"),
        ("{{Array(s, 'Int32', default=[1, 2])}}", {}, "[1,2]"),
        ("{{Array(s, 'String', default=['mobile', 'desktop'])}}", {}, "['mobile','desktop']"),
        ("{{Array(foo, 'String')}}", {"foo": "it's,a\\b"}, "['it\\'s','a\\\\b']"),
        ("{% for v in Array(foo, 'Int32') %}{{v}};{% end %}", {"foo": "1,2"}, "1;2;"),
        ("{{JSON(p, '[1]')[0]}}", {}, "1"),
        (
            "{% for kv in JSON(payload) %} OR department = {{kv['dp']}}{% end %}",
            {"payload": '[{"dp":"Design"},{"dp":"Marketing"}]'},
            " OR department = 'Design' OR department = 'Marketing'",
        ),
        ("{% for kv in JSON(payload) %}{{kv}}{% end %}", {}, ""),
    ],
)
def test_typed_functions(body: str, params: dict[str, object], expected: str) -> None:
    assert r(body, params) == expected


def test_defined_false_returns_none() -> None:
    assert r("{{sql_and(a=Int(a, defined=False), b=Int(b, defined=False))}}", {"b": "2"}) == "b = 2"
    assert r("{% if Int32(x, defined=False) is None %}none{% end %}") == "none"
    assert r("{% if Array(x, 'Int32', defined=False) is None %}none{% end %}") == "none"


@pytest.mark.parametrize(
    ("body", "params", "message"),
    [
        (
            "select * from {{Int32(foo)}}",
            {"foo": "non_int"},
            "[Error] Invalid value 'non_int' for parameter 'foo': expected Int32 "
            "(Error validating 'non_int' to type Int32)",
        ),
        (
            "LIMIT {{Int(limit)}}",
            {"limit": "abc"},
            "[Error] Invalid value 'abc' for parameter 'limit': expected Int32 "
            "(Error validating 'abc' to type Int32)",
        ),
        ("{{Int32(x, 'zz')}}", {}, "Error validating 'zz' to type Int32"),
        ("{{Int8(x)}}", {"x": "128"}, "expected Int8"),
        ("{{UInt8(x)}}", {"x": "-1"}, "expected UInt8"),
        ("{{UInt64(x)}}", {"x": "18446744073709551616"}, "expected UInt64"),
        ("{{Int32(x)}}", {"x": ""}, "Error validating '' to type Int32"),
        ("{{Int32(x)}}", {"x": "1.5"}, "expected Int32"),
        ("{{Float32(x)}}", {"x": "abc"}, "for parameter 'x': expected Float32"),
        ("{{Float64(x)}}", {"x": "nan"}, "expected Float64"),
        ("{{Date(x)}}", {"x": "2019-02-30"}, "for parameter 'x': expected Date"),
        ("{{Date(x)}}", {"x": "01/02/2019"}, "expected Date"),
        ("{{DateTime(x)}}", {"x": "2019-01-01"}, "expected DateTime"),
        ("{{DateTime(x)}}", {"x": "2019-01-01 00:00:00'; DROP TABLE t"}, "expected DateTime"),
        ("{{DateTime64(x)}}", {"x": "yesterday"}, "expected DateTime64"),
        ("{{Int32(x + 'a')}}", {"x": "1"}, "Template Syntax Error: Error validating '1a' to type Int32"),
        (
            "{{ Array(embedding, 'Float32') }}",
            {"embedding": "1,2,3,4, null"},
            "Error validating [1,2,3,4, null][4] ( null) to type Float32",
        ),
        ("{{ Array(e, 'Int32', '') }}", {}, "Error validating [][0] (empty string) to type Int32"),
        ("{{ Array(ids, 'Int32') }}", {"ids": "1,2,x"}, "for parameter 'ids': expected Array(Int32)"),
        ("{{ Array(ids, 'Foo') }}", {"ids": "1"}, "Unsupported Array type 'Foo'"),
        ("{{ Array(ids, 'Array(Int32)') }}", {"ids": "1"}, "Unsupported Array type"),
        ("{% for kv in JSON(payload, '') %}{% end %}", {}, "Error parsing JSON: '' - Expecting value"),
        ("{{ JSON(p) }}", {"p": "{bad"}, "Error parsing JSON: '{bad' -"),
        ("{{ JSON(p) }}", {"p": "[" * 100000 + "]" * 100000}, "Error parsing JSON"),
        ("{{ JSON(p, '{}') }}", {}, "cannot be rendered as SQL"),
        ("{{String()}}", {}, "one of the transform type functions is missing an argument"),
        ("{{String(x, 'a', 1, 2, 3, 4, 5, 6, 7)}}", {}, "String() takes at most 8 arguments"),
        ("{{String(x, colour='red')}}", {}, "unexpected keyword argument 'colour'"),
        ("{{String(x, 'a', default='b')}}", {}, "multiple values for argument 'default'"),
    ],
)
def test_typed_function_errors(body: str, params: dict[str, object], message: str) -> None:
    assert message in err(body, params)


def test_validation_errors_carry_the_params_documentation() -> None:
    with pytest.raises(TemplateError) as info:
        r("{{Int32(x)}}", {"x": "abc"})
    assert info.value.status == 400
    assert info.value.to_json() == {"error": info.value.message, "documentation": DOC_PARAMS}


@pytest.mark.parametrize(
    ("body", "params", "names"),
    [
        ("{{String(test)}} {{String(category, 'shirts')}} {{Int32(color)}}", {}, "test and color"),
        ("{{String(a)}}", {}, "a"),
        ("{{String(a)}} {{Int32(b)}} {{Date(c)}}", {}, "a, b and c"),
        ("{{String(a)}} {{String(a)}}", {}, "a"),
        ("{{Array(ids, 'Int32')}}", {}, "ids"),
        ("{{Date(d)}} {{Int32(x)}}", {"x": "bad"}, "d"),
        ("{% if Int32(x) > 1 %}{% end %}", {}, "x"),
    ],
)
def test_missing_required_parameters(body: str, params: dict[str, object], names: str) -> None:
    assert err(body, params) == (
        f"Template Syntax Error: Required parameter is not defined. Check the parameters {names}. "
        "Please provide a value or set a default value in the pipe code."
    )


def test_reserved_names_cannot_be_variables() -> None:
    assert err("SELECT {{String(format, 'test')}}", {"format": "tt"}) == (
        '"format" can not be used as a variable name, line 2'
    )
    assert err("SELECT {{format}}") == '"format" can not be used as a variable name, line 2'
    assert err("\n\nSELECT {{String(q, 'test')}}") == '"q" can not be used as a variable name, line 4'
    assert err("{% if 0 %}{% set q = 1 %}{% end %}") == '"q" can not be used as a variable name, line 2'
    assert err("{% for format in x %}{% end %}") == '"format" can not be used as a variable name, line 2'
    # The metadata keyword ``format=`` is not a variable.
    assert r("{{String(x, 'a', format='email')}}") == "'a'"


def test_oversized_parameters_are_refused() -> None:
    assert "too large" in err("{{String(x)}}", {"x": "a" * (MAX_PARAM_CHARS + 1)})
    assert "too many values" in err("{{Array(x)}}", {"x": ["1"] * (MAX_ARRAY_ITEMS + 1)})
    assert "too many items" in err("{{Array(x, 'Int32')}}", {"x": ",".join(["1"] * (MAX_ARRAY_ITEMS + 1))})
    # An unused oversized parameter is ignored, like every unknown parameter.
    assert r("{{Int32(y, 1)}}", {"x": "a" * (MAX_PARAM_CHARS + 1)}) == "toInt32('1')"
    # Up to the limit is fine.
    assert len(r("{{String(x)}}", {"x": "a" * MAX_PARAM_CHARS})) == MAX_PARAM_CHARS + 2
    assert r("{{len(Array(x, 'Int32'))}}", {"x": ",".join(["1"] * MAX_ARRAY_ITEMS)}) == str(MAX_ARRAY_ITEMS)


# --- identifiers and helper functions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "params", "expected"),
    [
        ("SELECT {{column(agg)}}", {"agg": "foo"}, "SELECT `foo`"),
        ("SELECT {{column(agg)}}", {"agg": '"foo"'}, "SELECT `foo`"),
        ("SELECT {{column(agg)}}", {"agg": "json.a"}, "SELECT `json`.`a`"),
        ("SELECT {{column(agg, 'dflt')}}", {}, "SELECT `dflt`"),
        ("SELECT {{column(agg)}}", {"agg": "a`; DROP TABLE t; --"}, "SELECT `a\\`; DROP TABLE t; --`"),
        ("{% set var_1 = 'name' %}SELECT {{column(var_1)}}", {}, "SELECT `name`"),
        ("SELECT {{columns(agg, 'a,b,c')}} FROM t", {}, "SELECT `a`,`b`,`c` FROM t"),
        ("SELECT {{columns(agg, 'a,b,c')}} FROM t", {"agg": "foo"}, "SELECT `foo` FROM t"),
        ("SELECT {{columns('a, b ,c')}} FROM t", {}, "SELECT `a`,`b`,`c` FROM t"),
        ("SELECT {{columns(cols, 'a,b', 'sum')}}", {}, "SELECT sum(`a`) as `a`,sum(`b`) as `b`"),
        ("SELECT * FROM {{symbol(foo)}}", {"foo": "table-name"}, "SELECT * FROM `table-name`"),
        ("SELECT * FROM {{symbol(foo)}}", {"foo": '"table-name"'}, "SELECT * FROM `table-name`"),
        ("SELECT {{symbol(foo)}}", {"foo": "a.b"}, "SELECT `a.b`"),
        ("SELECT {{Symbol(foo)}}, {{Column(foo)}}", {"foo": "x"}, "SELECT `x`, `x`"),
        (
            "SELECT {{symbol(split_to_array(attr, 'amount_net')[0] + '_intermediate')}}",
            {},
            "SELECT `amount_net_intermediate`",
        ),
        ("SELECT * FROM {{table(t)}}", {"t": "events"}, "SELECT * FROM events"),
        ("SELECT * FROM {{TABLE('events_2')}}", {}, "SELECT * FROM events_2"),
        ("SELECT * FROM {{table(t)}}", {"t": '"events"'}, "SELECT * FROM events"),
    ],
)
def test_identifier_functions(body: str, params: dict[str, object], expected: str) -> None:
    assert r(body, params) == expected


@pytest.mark.parametrize(
    ("body", "params", "message"),
    [
        ("SELECT {{column(agg)}}", {}, "Missing column() default value, use `column(column_name, "),
        ("SELECT {{columns(agg)}}", {}, "Missing columns() default value, use `columns(column_names, "),
        ("SELECT {{columns(agg, 'a')}}", {"agg": ["a", "b"]}, "The 'columns' function expects a String"),
        ("SELECT {{column(agg)}}", {"agg": ""}, "Invalid column name ''"),
        ("SELECT {{column(agg)}}", {"agg": "a\nb"}, "Invalid column name"),
        ("SELECT {{column(agg)}}", {"agg": "a..b"}, "Invalid column name"),
        ("SELECT {{columns(agg, 'a')}}", {"agg": "a,,b"}, "Invalid column name ''"),
        ("SELECT {{columns(c, 'a', f)}}", {"f": "sum) FROM t; --"}, "Invalid function name"),
        ("SELECT {{symbol(x)}}", {"x": "a\x00"}, "Invalid symbol"),
        ("SELECT {{symbol(x, '\"')}}", {"x": "a"}, "only supports the ` quote"),
        (
            "SELECT * FROM {{table(t)}}",
            {"t": "events; DROP TABLE x"},
            "Invalid table name 'events; DROP TABLE x'",
        ),
        ("SELECT * FROM {{table(t)}}", {"t": "db.events"}, "Invalid table name"),
        ("SELECT * FROM {{table(t)}}", {"t": "1abc"}, "Invalid table name"),
        ("SELECT * FROM {{table(t)}}", {"t": "`x`"}, "Invalid table name"),
    ],
)
def test_identifier_function_errors(body: str, params: dict[str, object], message: str) -> None:
    assert message in err(body, params)


def test_column_check() -> None:
    allowed = {"a", "b", "json.x"}.__contains__
    assert render("%\n{{column(c, 'a')}}", {"c": "json.x"}, column_check=allowed) == "`json`.`x`"
    with pytest.raises(TemplateError) as info:
        render("%\n{{column(c, 'a')}}", {"c": "secret"}, column_check=allowed)
    assert "Unknown column 'secret' in column()" in info.value.message
    with pytest.raises(TemplateError) as info:
        render("%\n{{columns(c, 'a')}}", {"c": "a,zz"}, column_check=allowed)
    assert "Unknown column 'zz' in columns()" in info.value.message


@pytest.mark.parametrize(
    ("body", "params", "expected"),
    [
        ("{{sql_and(a=a, b=b)}}", {"a": "1", "b": "2"}, "a = '1' and b = '2'"),
        ("{{sql_and(a=a, b=b)}}", {"b": "2"}, "b = '2'"),
        ("{{sql_and(a=a, b=b)}}", {}, ""),
        ("{{sql_and(a__in=Array(a), b=b)}}", {"a": "a,b,c", "b": "2"}, "a in ['a','b','c'] and b = '2'"),
        (
            "{{sql_and(a__not_in=Array(a), b=b)}}",
            {"a": "a,b,c", "b": "2"},
            "a not in ['a','b','c'] and b = '2'",
        ),
        (
            "{{sql_and(x__gt=Int32(x), x__lt=Int32(y), z__gte=Float64(z, 1), z__lte=Float64(w, 2))}}",
            {"x": "1", "y": "9"},
            "x > toInt32('1') and x < toInt32('9') and z >= toFloat64('1.0') and z <= toFloat64('2.0')",
        ),
        ("{{sql_and(a=Array(a, defined=False), b=1)}}", {}, "b = 1"),
        ("{{sql_and(a=a)}}", {"a": "x' OR 1=1 --"}, "a = 'x\\' OR 1=1 --'"),
    ],
)
def test_sql_and(body: str, params: dict[str, object], expected: str) -> None:
    assert r(body, params) == expected


def test_sql_and_unknown_operator() -> None:
    assert err("{{sql_and(a__like=a)}}", {"a": "1"}) == "Template Syntax Error: operand like not supported"


@pytest.mark.parametrize(
    ("body", "params", "expected"),
    [
        ("{{split_to_array(x)}}", {"x": "a, b ,c"}, "['a','b','c']"),
        ("{{split_to_array(x, 'd')}}", {}, "['d']"),
        ("{{split_to_array(x, '')}}", {}, "['']"),
        ("{{split_to_array(x, separator='|')}}", {"x": "a|b"}, "['a','b']"),
        ("{{split_to_array(x)}}", {"x": ["a ", "b"]}, "['a','b']"),
        (
            "{% for last, v in enumerate_with_last(['a', 'b']) %}{{v}}{% if not last %},{% end %}{% end %}",
            {},
            "'a','b'",
        ),
        ("{{enumerate_with_last([1])}}", {}, "[[true,1]]"),
        ("{{day_diff('2019-01-01', '2019-01-01')}}", {}, "0"),
        ("{{day_diff('2019-01-02', '2019-02-01')}}", {}, "30"),
        ("{{day_diff('2019-02-01', '2019-01-02')}}", {}, "30"),
        ("{{date_diff_in_days('2019-01-01', '2019/01/04', backup_date_format='%Y/%m/%d')}}", {}, "3"),
        (
            "{{date_diff_in_days('2019-02-01 20:00:00', '2019-01-02 20:00:00', "
            "date_format='%Y-%m-%d %H:%M:%S')}}",
            {},
            "30",
        ),
        ("{{date_diff_in_hours('2022-12-14 18:42:22', '2022-12-19 18:42:22')}}", {}, "120"),
        (
            "{{date_diff_in_hours('2022-12-19T20:43:22Z', '2022-12-19T18:42:23Z', '%Y-%m-%dT%H:%M:%SZ')}}",
            {},
            "2",
        ),
        ("{{date_diff_in_minutes('2022-12-14 18:42:22', '2022-12-19 18:42:22')}}", {}, "7200"),
        ("{{date_diff_in_seconds('2022-12-19 18:42:22', '2022-12-19 18:43:22')}}", {}, "60"),
        (
            "{{date_diff_in_seconds('2022-12-19', '2022-12-19 00:01:00', backup_date_format='%Y-%m-%d')}}",
            {},
            "60",
        ),
        (
            "{% if date_diff_in_days('2019-01-01', '2019-00-02', none_if_error=True) is None %}n{% end %}",
            {},
            "n",
        ),
        ("{% if day_diff(Date(s, '2019-01-01'), Date(e, '2019-03-01')) > 30 %}long{% end %}", {}, "long"),
        ("like {{sql_unescape(String(p), '%')}}", {"p": "raul_el_bueno_%"}, "like 'raul_el_bueno_%'"),
        ('{{sql_unescape(String(p), "\'")}}', {"p": "a'b"}, "'a\\'b'"),
    ],
)
def test_helper_functions(body: str, params: dict[str, object], expected: str) -> None:
    assert r(body, params) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{{day_diff('2019/01/01', '2019-01-02')}}", "invalid date format in function `day_diff`"),
        ("{{day_diff(a, b)}}", "invalid date format in function `day_diff`"),
        ("{{date_diff_in_days('x', '2019-01-02')}}", "invalid date format in function `date_diff_in_days`"),
        ("{{date_diff_in_hours('x', 'y')}}", "invalid date_format in function `date_diff_in_hours`"),
        ("{{date_diff_in_seconds(1, 2)}}", "invalid date_format in function `date_diff_in_seconds`"),
        ("{{split_to_array(x, separator='')}}", "non-empty separator"),
        ("{{split_to_array(1)}}", "split_to_array has to be a value that can be split"),
    ],
)
def test_helper_function_errors(body: str, message: str) -> None:
    assert message in err(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{{len('abc')}} {{len([1, 2])}}", "3 2"),
        ("{{range(3)}} {{range(1, 7, 2)}}", "[0,1,2] [1,3,5]"),
        ("{{sum([1, 2, 3])}} {{sum([0.5], 1)}}", "6 1.5"),
        ("{{min(3, 1, 2)}} {{max([3, 1, 2])}} {{max('a', 'b')}}", "1 3 'b'"),
        ("{{abs(-2)}} {{round(2.567, 2)}} {{round(2.5)}}", "2 2.57 2"),
        ("{{int('42')}} {{int(2.9)}} {{float('1.5')}} {{str(5)}} {{str(x)}}", "42 2 1.5 '5' 'None'"),
        ("{{sorted([3, 1, 2])}} {{sorted(['b', 'a'], reverse=True)}}", "[1,2,3] ['b','a']"),
        (
            "{{list('ab')}} {{reversed([1, 2])}} {{zip([1, 2], ['a', 'b'])}}",
            "['a','b'] [2,1] [[1,'a'],[2,'b']]",
        ),
        ("{{any([0, 1])}} {{all([0, 1])}} {{bool('true')}}", "true false 1"),
        ("{{enumerate(['a'], 1)}}", "[[1,'a']]"),
    ],
)
def test_safe_builtins(body: str, expected: str) -> None:
    assert r(body) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{{len(5)}}", "object of type 'int' has no len()"),
        ("{{int('x')}}", "invalid literal for int()"),
        ("{{int('9' * 5000)}}", "invalid literal for int()"),
        ("{{float('nan')}}", "could not convert to float"),
        ("{{str([1])}}", "str() of a list is not supported"),
        ("{{sorted([1, 'a'])}}", "not supported between instances of 'int' and 'str'"),
        ("{{range(1, 2, 0)}}", "must not be zero"),
        ("{{min([])}}", "arg is an empty sequence"),
        ("{{round(1.5, 1000)}}", "ndigits must be"),
        ("{{len(x=1)}}", "takes no keyword arguments"),
        ("{{1 / 0}}", "division by zero"),
        ("{{1 % 0}}", "division by zero"),
        ("{{1e308 * 10}}", "number too large"),
        ("{{'a' + 1}}", "unsupported operand type(s) for +: 'str' and 'int'"),
        ("{{'a' - 'b'}}", "unsupported operand type(s) for -: 'str' and 'str'"),
        ("{{'%s' % 'x'}}", "unsupported operand type(s) for %"),
        ("{{-'a'}}", "bad operand type for unary -"),
        ("{{1 in 'abc'}}", "requires string as left operand"),
        ("{{1 in 5}}", "is not iterable"),
        ("{{'a' < 1}}", "'<' not supported between instances of 'str' and 'int'"),
        ("{{[1, 2][5]}}", "list index out of range"),
        ("{{x[0]}}", "String index out of range"),
        ("{{ {'a': 1}['b'] }}", "key 'b' not found"),
        ("{{ 5[0] }}", "'int' object is not subscriptable"),
        ("{{ 'abc'['a'] }}", "indices must be integers"),
        ("{{ 'abc'[::0] }}", "slice step cannot be zero"),
        ("{% for a, b in [1] %}{% end %}", "'int' object is not iterable"),
        ("{% for a, b in [[1, 2, 3]] %}{% end %}", "cannot unpack 3 values into 2 names"),
        ("{{ {'a': 1} }}", "is a dict, which cannot be rendered as SQL"),
        ("{{ {[1]: 1} }}", "a dict key must be a string or a number"),
    ],
)
def test_runtime_errors(body: str, message: str) -> None:
    assert message in err(body, {"x": ""})


# --- errors the template raises on purpose ----------------------------------------------------


def test_error_function() -> None:
    with pytest.raises(TemplateError) as info:
        r("{% if not defined(x) %}{{error('x is required')}}{% end %}")
    assert info.value.status == 400
    assert info.value.message == "x is required"
    with pytest.raises(TemplateError) as info:
        r("{{error('nope', 404)}}")
    assert info.value.status == 404
    with pytest.raises(TemplateError) as info:
        r("{{error('nope', 200)}}")
    assert info.value.status == 400
    # Outside of {{ }}, the text is just text.
    assert r('{% if not defined(test) %}error("This is an error"){% end %}') == 'error("This is an error")'


def test_custom_error() -> None:
    with pytest.raises(CustomError) as info:
        r(
            "{% if not defined(x) %}{{custom_error({'error': 'need x', 'code': 'E1', 'n': [1, None]}, 422)}}"
            "{% end %}"
        )
    e = info.value
    assert isinstance(e, RoostError) and not isinstance(e, TemplateError)
    assert e.status == 422
    assert e.to_json() == {"error": "need x", "code": "E1", "n": [1, None]}
    with pytest.raises(CustomError) as info:
        r("{{custom_error('plain text')}}")
    assert info.value.status == 400
    assert info.value.to_json() == {"error": "plain text"}
    with pytest.raises(CustomError) as info:
        r("{{custom_error({'v': Int32(x)}, 401)}}", {"x": "5"})
    assert info.value.to_json() == {"v": 5}
    with pytest.raises(TemplateError) as terr:
        r("{{custom_error({'v': x * 10000})}}", {"x": "a" * 100})
    assert "too large" in terr.value.message


def test_error_functions_do_not_raise_in_test_mode() -> None:
    assert r("{{error('x')}}{{custom_error({'a': 1})}}SELECT 1", test_mode=True) == "SELECT 1"


# --- settings functions and secrets -----------------------------------------------------------


def test_settings_functions() -> None:
    out = render_template("%\n{{max_threads(2)}} SELECT 1", {})
    assert out.sql == "-- max_threads 2\n SELECT 1"
    assert out.settings == {"max_threads": 2}
    out = render_template(
        "%\n{{cache_ttl('5m')}}{{backend_hint('x-1')}}{{activate('analyzer')}}{{disable('analyzer')}}"
        "SELECT 1",
        {},
    )
    assert (
        out.sql == "-- cache_ttl 5m\n-- backend_hint x-1\n-- activate analyzer\n-- disable analyzer\nSELECT 1"
    )
    assert out.settings == {
        "cache_ttl": "5m",
        "backend_hint": "x-1",
        "activate": "analyzer",
        "disable": "analyzer",
    }
    # A value from the request never reaches the comment raw: a newline would end it.
    out = render_template(
        "%\n{{max_threads(n)}}{{backend_hint(h)}}SELECT 1", {"n": "2\nDROP", "h": "a\nDROP TABLE"}
    )
    assert out.sql == "-- max_threads: wrong argument\n-- backend_hint\nSELECT 1"
    assert "DROP" not in out.sql


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "{{cache_ttl('2h')}}",
            "Invalid TTL cache expression, valid expressions are ('5s', '1m', '5m', '30m', '1h')",
        ),
        ("{{activate('turbo')}}", "'turbo' is not a valid 'activate' argument"),
        ("{{disable('analyze')}}", "'analyze' is not a valid 'disable' argument"),
    ],
)
def test_settings_function_errors(body: str, message: str) -> None:
    assert message in err(body)


def test_secrets() -> None:
    assert err("{{tb_secret('test')}}", {"test": "1234"}) == (
        "Template Syntax Error: Cannot access secret 'test'. Check the secret exists in the Workspace and "
        "the token has the required scope."
    )
    assert "Cannot access secret 'x'" in err("{{tb_var('x')}}")
    assert r("{{tb_secret('test', 'default_value')}}") == "'default_value'"
    assert r("{{tb_secret('test', '')}}") == "''"
    assert r("{{tb_secret('test')}}", test_mode=True) == "{test: String}"
    assert "Cannot access secret" in err("{{tb_secret('a} OR 1')}}", test_mode=True)


# --- test mode --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("select * from table where f = {{Float32(foo)}}", "select * from table where f = toFloat32('0.0')"),
        ("SELECT * FROM t where a = {{test}}", "SELECT * FROM t where a = '__no_value__'"),
        (
            "{% for v in test %}SELECT {{v}} {% end %}",
            "SELECT '__no_value__' SELECT '__no_value__' SELECT '__no_value__' ",
        ),
        ("select {{Int32(foo, 1)}}", "select toInt32('1')"),
        ("SELECT c FROM t where a > {{Date(start)}}", "SELECT c FROM t where a > '2019-01-01'"),
        ("SELECT c FROM t where a > {{DateTime(start)}}", "SELECT c FROM t where a > '2019-01-01 00:00:00'"),
        ("SELECT {{DateTime64(start)}}", "SELECT '2019-01-01 00:00:00.000'"),
        ("SELECT * from test limit {{Int(limit)}}", "SELECT * from test limit 0"),
        ("SELECT {{symbol(attr)}} from test", "SELECT `placeholder` from test"),
        ("SELECT * FROM {{table(t)}}", "SELECT * FROM placeholder"),
        ("SELECT {{Array(foo, 'Int32')}}", "SELECT [0,0]"),
        ("SELECT {{Array(foo)}}", "SELECT ['']"),
        ("SELECT {{Array(foo, 'Date')}}", "SELECT ['2019-01-01','2019-01-01']"),
        ("SELECT {{String(foo)}}", "SELECT '__no_value__'"),
        ("SELECT {{String(foo, 'test')}}", "SELECT 'test'"),
        ("SELECT {{String(foo + 'abcd')}}", "SELECT '__no_value__'"),
        ("SELECT {{Boolean(foo)}}", "SELECT 0"),
        ("{% if defined(x) %}A{% else %}B{% end %}", "B"),
        ("{% if x %}A{% else %}B{% end %}", "A"),
        ("{{day_diff(a, b)}}", "0"),
        ("{{columns(c, 'a,b')}}", "`a`,`b`"),
        ("{{sql_and(a=a)}}", "a = '__no_value__'"),
        ("{{split_to_array(x, 'd')}}", "['d']"),
        ("{{sql_unescape(x, '%')}}", "'__no_value__'"),
        ("{% for kv in JSON(payload) %}{{kv}}{% end %}", ""),
        ("{{x[0]}}", "'__no_value__'"),
    ],
)
def test_test_mode_placeholders(body: str, expected: str) -> None:
    assert r(body, test_mode=True) == expected


def test_test_mode_uses_real_values_when_given() -> None:
    assert r("SELECT {{String(foo, 'test')}}", {"foo": "tt"}, test_mode=True) == "SELECT 'tt'"


def test_test_mode_placeholder_comparisons() -> None:
    assert "wrap it around a valid Data Type" in err("{% if x > 1 %}{% end %}", test_mode=True)
    assert r("{% if x == 'a' %}A{% else %}B{% end %}", test_mode=True) == "B"


# --- warnings, job_timestamp ------------------------------------------------------------------


def test_reserved_parameter_warnings() -> None:
    out = render_template("%\nselect * from t where s = {{pipeline}}", {"pipeline": "test"})
    assert out.sql == "select * from t where s = 'test'"
    assert out.warnings == ["pipeline"]


def test_job_timestamp_defaults_to_now() -> None:
    out = r("{{DateTime(job_timestamp)}}")
    assert len(out) == len("'2019-01-01 00:00:00'")
    assert (
        r("{{DateTime(job_timestamp)}}", {"job_timestamp": "2020-01-01 00:00:00"}) == "'2020-01-01 00:00:00'"
    )


# --- parameters() -----------------------------------------------------------------------------


def _p(
    name: str, type_: str = "String", default: object = None, required: bool = False, **kw: object
) -> TemplateParam:
    return TemplateParam(name, type_, default, required, kw.pop("description", None), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("SELECT 1", []),
        ("{{Float32(with_value, 0.0)}}", [_p("with_value", "Float32", 0.0)]),
        ("{{Float32(with_value, -0.1)}}", [_p("with_value", "Float32", -0.1)]),
        ("{{Int32(with_value, -0)}}", [_p("with_value", "Int32", 0)]),
        (
            "{{String(d, 'test_1')}} AND value = {{Int8(v, 3)}}",
            [_p("d", "String", "test_1"), _p("v", "Int8", 3)],
        ),
        (
            "{% if defined(number_variable) %} where x = {{UInt64(number_variable)}} {% end %}",
            [_p("number_variable", "UInt64")],
        ),
        ("{% if defined(testing) and defined(testing2) %}1{% end %}", [_p("testing"), _p("testing2")]),
        ("{% if defined(y) and x > 0 %} x = {{UInt64(x)}} {% end %}", [_p("y"), _p("x", "UInt64")]),
        ("{% if a %}1{% elif defined(y) %}{{UInt64(x)}}{% end %}", [_p("a"), _p("y"), _p("x", "UInt64")]),
        ("{% for x in items %}{{Int32(x, 0)}}{% end %}", [_p("items")]),
        ("{% while more %}{{UInt64(x)}}{% end %}", [_p("more"), _p("x", "UInt64")]),
        ("{% set a = Int32(x, 0) %}{{a}}", [_p("x", "Int32", 0)]),
        ("{% set limit = Int32(limit, 10) %}{{limit}}", [_p("limit", "Int32", 10)]),
        ("{{Array(cod, 'Int16', defined=False)}}", [_p("cod", "Array(Int16)")]),
        ("{{Array(cod)}}", [_p("cod", "Array(String)")]),
        ("{{Array(cod, 'Int16', default='1')}}", [_p("cod", "Array(Int16)", "1")]),
        ("{{Array(cod, 'Int', '1,2')}}", [_p("cod", "Array(Int32)", "1,2")]),
        ("{{Array(devices, 'String', default=['m', 'd'])}}", [_p("devices", "Array(String)", ["m", "d"])]),
        ("{{cod}}", [_p("cod")]),
        ("{{String(cod, 'test')}}", [_p("cod", "String", "test")]),
        ("{{split_to_array(test)}}", [_p("test")]),
        ("{{String(test + 'abcd', 'default_value')}}", [_p("test")]),
        (
            "{{String(d, 'test_1', description='test', required=True)}} "
            "{{Int8(v, 3, format='number', example='1')}}",
            [
                _p("d", "String", "test_1", True, description="test"),
                _p("v", "Int8", 3, format="number", example="1"),
            ],
        ),
        ("{{String(d, default='t', description='x')}}", [_p("d", "String", "t", description="x")]),
        ("{{String(s, enum=['a', 'b'])}}", [_p("s", enum=["a", "b"])]),
        (
            "{{Int128(symbol_id, 11111, description='Symbol Id', required=True)}}",
            [_p("symbol_id", "Int128", 11111, True, description="Symbol Id")],
        ),
        (
            "{{DateTime64(ts, '2020-09-09 10:10:10.000')}}",
            [_p("ts", "DateTime64", "2020-09-09 10:10:10.000")],
        ),
        ("{{Int32(dup, 1)}} {{String(dup, 'last')}}", [_p("dup", "Int32", 1)]),
        ("{{dup}} {{Int32(dup, 1)}}", [_p("dup", "Int32", 1)]),
        ("{{Int64(symbol_id, 9223372036854775807)}}", [_p("symbol_id", "Int64", "9223372036854775807")]),
        (
            "{{Int(a)}} {{Integer(b)}} {{Boolean(c)}} {{bool(d)}}",
            [_p("a", "Int32"), _p("b", "Int32"), _p("c", "Boolean"), _p("d", "Boolean")],
        ),
        (
            "{{Date(d)}} {{DateTime(dt)}} {{JSON(j, '{}')}}",
            [_p("d", "Date"), _p("dt", "DateTime"), _p("j", "JSON", "{}")],
        ),
        (
            "{{column(col_name, 'id')}} {{columns(cols, 'a,b')}} {{symbol(t)}}",
            [_p("col_name"), _p("cols"), _p("t")],
        ),
        ("{{sql_and(a=Int32(a), b__in=Array(b, 'Int32'))}}", [_p("a", "Int32"), _p("b", "Array(Int32)")]),
        ("{% if 0 %}{{Int32(hidden, 5)}}{% end %}", [_p("hidden", "Int32", 5)]),
        ("{% try %}{{UInt64(x)}}{% except as e %}{{e}}{% end %}", [_p("x", "UInt64")]),
        ("{{Int32(x, y)}}", [_p("x", "Int32"), _p("y")]),
        ("{{day_diff(start_date, end_date)}}", [_p("start_date"), _p("end_date")]),
        ("{{max_threads(n)}}", [_p("n")]),
    ],
)
def test_parameters(body: str, expected: list[TemplateParam]) -> None:
    assert parameters("%\n" + body) == expected


def test_parameters_to_json() -> None:
    [p] = parameters(
        "%\n{{Int8(v, 3, description='d', required=True, format='number', example='1', enum=[1, 3])}}"
    )
    assert p.to_json() == {
        "name": "v",
        "type": "Int8",
        "default": 3,
        "required": True,
        "description": "d",
        "enum": [1, 3],
        "example": "1",
        "format": "number",
    }
    [p] = parameters("%\n{{x}}")
    assert p.to_json() == {
        "name": "x",
        "type": "String",
        "default": None,
        "required": False,
        "description": None,
    }


def test_parameters_raises_on_bad_templates() -> None:
    with pytest.raises(TemplateError):
        parameters("%\n{% import os %}")
    with pytest.raises(TemplateError):
        parameters("%\n{{ x.y }}")


# --- rendered SQL is SQL, and means what it should --------------------------------------------

_PIPE = """%
SELECT
    number,
    {{String(label, 'none')}} AS label,
    {{Array(tags, 'String', default='a,b')}} AS tags
FROM numbers(100)
WHERE 1
{% if defined(min_n) %} AND number >= {{Int32(min_n)}} {% end %}
{% if defined(ids) %} AND number IN {{Array(ids, 'UInt64')}} {% end %}
{% if defined(day) %} AND toDate('2020-01-01') + number = {{Date(day)}} {% end %}
{% if defined(col) %} AND {{column(col, 'number')}} > 0 {% end %}
ORDER BY number
LIMIT {{Int32(limit, 3)}} OFFSET {{Int32(page, 0) * Int32(limit, 3)}}
"""

_HOSTILE = [
    "a'b",
    "\\",
    "\\'",
    "'; DROP TABLE t; --",
    "/* x */",
    "-- c",
    "{{x}}",
    "{% if %}",
    "nul\x00",
    "ñ\n\t😀",
]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"label": "x", "min_n": "10", "limit": "2", "page": "1"},
        {"ids": "1,5,7", "tags": ["t,1", "t2"]},
        {"day": "2020-01-05"},
        {"col": "number"},
        *[{"label": h, "tags": [h, h]} for h in _HOSTILE],
    ],
)
def test_rendered_pipe_parses_with_sqlglot_and_runs_on_chdb(params: dict[str, object]) -> None:
    sql = render(_PIPE, params)  # type: ignore[arg-type]
    tree = sqlglot.parse_one(sql, read="clickhouse")
    assert isinstance(tree, sqlglot.exp.Select)
    for generated in (sql, tree.sql("clickhouse")):
        rows = _chdb_rows(generated)
        assert rows, generated
        label = params.get("label", "none")
        assert all(row["label"] == label for row in rows)
        tags = params.get("tags", ["a", "b"])
        tags = tags.split(",") if isinstance(tags, str) else tags
        assert all(row["tags"] == tags for row in rows)


def test_rendered_pipe_filters_as_asked() -> None:
    rows = _chdb_rows(render(_PIPE, {"min_n": "10", "limit": "2", "page": "1"}))
    assert [row["number"] for row in rows] == [12, 13]
    rows = _chdb_rows(render(_PIPE, {"ids": "1,5,7", "limit": "10"}))
    assert [row["number"] for row in rows] == [1, 5, 7]
    rows = _chdb_rows(render(_PIPE, {"day": "2020-01-05"}))
    assert [row["number"] for row in rows] == [4]


@pytest.mark.parametrize("value", _HOSTILE + ["x' OR '1'='1", "\\\\'", "ʼ＇", "a\r\nb"])
def test_hostile_values_round_trip_exactly(value: str) -> None:
    for body in ("SELECT {{x}} AS v", "SELECT {{String(x)}} AS v"):
        sql = r(body, {"x": value})
        assert _chdb_rows(sql) == [{"v": value}]
        regenerated = sqlglot.parse_one(sql, read="clickhouse").sql("clickhouse")
        assert _chdb_rows(regenerated) == [{"v": value}]
    sql = r("SELECT {{Array(x, 'String')}} AS v", {"x": [value, value]})
    assert _chdb_rows(sql) == [{"v": [value, value]}]


def test_typed_values_mean_what_they_should_in_chdb() -> None:
    sql = r(
        "SELECT {{Int8(a)}} AS a, {{UInt64(b)}} AS b, {{Float32(c)}} AS c, {{Boolean(d)}} AS d, "
        "{{DateTime(e)}} AS e, {{Int(f)}} AS f, toTypeName({{Int8(a)}}) AS ta",
        {
            "a": "-5",
            "b": "18446744073709551615",
            "c": "1.5",
            "d": "true",
            "e": "2020-01-02 03:04:05",
            "f": "7",
        },
    )
    assert _chdb_rows(sql) == [
        {
            "a": -5,
            "b": "18446744073709551615",
            "c": 1.5,
            "d": 1,
            "e": "2020-01-02 03:04:05",
            "f": 7,
            "ta": "Int8",
        }
    ] or _chdb_rows(sql) == [
        {
            "a": -5,
            "b": 18446744073709551615,
            "c": 1.5,
            "d": 1,
            "e": "2020-01-02 03:04:05",
            "f": 7,
            "ta": "Int8",
        }
    ]


def test_identifiers_round_trip_in_chdb() -> None:
    name = "we`ird; DROP --"
    sql = r("SELECT 1 AS {{symbol(x)}}", {"x": name})
    assert _chdb_rows(sql) == [{name: 1}]


def test_render_is_cached_and_reentrant() -> None:
    body = "%\nSELECT {{Int32(x, 1)}}"
    assert render(body, {}) == "SELECT toInt32('1')"
    assert render(body, {"x": "2"}) == "SELECT toInt32('2')"
    assert render(body, {}) == "SELECT toInt32('1')"


def test_large_templates_render_without_the_cache() -> None:
    body = "SELECT 1" + " " * 70_000 + "{{Int32(x, 2)}}"
    assert render("%\n" + body, {}).endswith("toInt32('2')")
    assert [p.name for p in parameters("%\n" + body)] == ["x"]


def test_json_body_values_are_accepted() -> None:
    """A JSON request body may give numbers and booleans instead of strings."""
    assert r(
        "{{Int32(a)}} {{Float64(b)}} {{Boolean(c)}} {{String(d)}} {{a}}",
        {"a": 5, "b": 1.5, "c": True, "d": 7},
    ) == ("toInt32('5') toFloat64('1.5') 1 '7' 5")


def test_docstring_examples() -> None:
    import doctest

    import roost.sql.template as module

    assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize(
    ("body", "params", "message"),
    [
        ("{{sorted([1], key=1)}}", {}, "sorted():"),
        ("{{len([1], 2)}}", {}, "len() takes 1 to 1 arguments"),
        ("{{sql_unescape(x)}}", {"x": "a\ud800"}, "not valid Unicode"),
        ("{{x}}", {"x": "a\ud800"}, "not valid Unicode"),
        ("{{String(x)}}", {"x": "a\ud800"}, "expected String"),
        ("{{date_diff_in_days('2019-01-01', '2019-01-02', '%')}}", {}, "invalid date format"),
    ],
)
def test_unexpected_python_errors_become_template_errors(
    body: str, params: dict[str, object], message: str
) -> None:
    assert message in err(body, params)
