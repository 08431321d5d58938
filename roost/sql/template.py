"""Tinybird's pipe template language: render a node's SQL with request parameters.

A node (or a ``/v0/sql`` query) whose first non-blank character is ``%`` is a template::

    %
    SELECT * FROM events
    WHERE 1 {% if defined(country) %} AND country = {{String(country)}} {% end %}
    LIMIT {{Int32(limit, 10)}}

The syntax is Tornado's, as Tinybird uses it: ``{{ expr }}``, ``{% if %}/{% elif %}/{% else %}``,
``{% for x in xs %}``, ``{% while %}``, ``{% set v = expr %}``, ``{% try %}/{% except %}``, each
closed by ``{% end %}``, and ``{# comment #}``. Expressions are a small sandboxed subset of Python
(see ``template_parse.check_expr`` and ``template_eval``): no attributes, no imports, only the
template functions of ``template_functions``. A request value reaches SQL only through
:mod:`roost.sql.literals`: ``{{x}}`` with ``x = "a'b"`` renders ``'a\\'b'``.

>>> render("%\\nSELECT {{Int32(n, 1)}}, {{String(s)}}", {"s": "it's"})
"SELECT toInt32('1'), 'it\\\\'s'"
>>> render("SELECT {{x}}", {})  # not a template: unchanged
'SELECT {{x}}'
>>> [p.name for p in parameters("% SELECT {{Int32(n, 1)}} {% if defined(s) %}{{String(s)}}{% end %}")]
['n', 's']
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from roost.sql.template_eval import Context, render_nodes
from roost.sql.template_functions import (
    FUNCTIONS,
    NAME_FUNCTIONS,
    REQUIRED_PARAM_NOT_DEFINED,
    TYPED_FUNCTIONS,
    CustomError,
)
from roost.sql.template_parse import (
    SYNTAX,
    Expr,
    For,
    If,
    Node,
    Set,
    TemplateError,
    TemplateLimitError,
    Try,
    While,
    parse_template,
)

__all__ = [
    "CustomError",
    "Rendered",
    "TemplateError",
    "TemplateLimitError",
    "TemplateParam",
    "is_template",
    "parameters",
    "render",
    "render_template",
]

JOB_TIMESTAMP_PARAM = "job_timestamp"
# Parameter names Tinybird warns about (they mean something else on the API).
RESERVED_PARAM_NAMES = frozenset(
    {
        "__tb__csv_header", "__tb__semver", "debug", "debug_source_tables", "explain",
        "finalize_aggregations", "output_format_json_quote_64bit_integers",
        "output_format_json_quote_denormals", "output_format_parquet_string_as_string", "pipeline",
        "playground", "query_id", "release_replacements", "tag", "template_parameters", "token",
        JOB_TIMESTAMP_PARAM,
    }
)  # fmt: skip
_MAX_SAFE_INTEGER = 2**53 - 1
_META_KEYS = ("description", "required", "enum", "example", "format")


@dataclass(frozen=True)
class TemplateParam:
    """One parameter a template reads, as the pipe API and OpenAPI list it."""

    name: str
    type: str
    default: object | None
    required: bool
    description: str | None
    enum: list[object] | None = None
    example: object | None = None
    format: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "required": self.required,
            "description": self.description,
        }
        for key in ("enum", "example", "format"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class Rendered:
    """The SQL of a rendered template, the settings it asked for, and name warnings."""

    sql: str
    settings: dict[str, object]
    warnings: list[str]


# --- entry points -----------------------------------------------------------------------------


def _template_start(sql: str) -> tuple[str, int] | None:
    """The template body after its ``%`` and the line number the body starts at, or None."""
    stripped = sql.lstrip()
    if not stripped.startswith("%"):
        return None
    at = len(sql) - len(stripped) + 1
    line = 1 + sql.count("\n", 0, at)
    rest_of_line_end = sql.find("\n", at)
    if rest_of_line_end != -1 and not sql[at:rest_of_line_end].strip():
        return sql[rest_of_line_end + 1 :], line + 1
    if rest_of_line_end == -1 and not sql[at:].strip():
        return "", line
    return sql[at:], line


def is_template(sql: str) -> bool:
    """True when the SQL is a template: its first non-blank character is ``%``."""
    return _template_start(sql) is not None


@dataclass(frozen=True)
class _Parsed:
    nodes: list[Node]
    names: frozenset[str]  # every name a template expression reads or assigns


_MAX_CACHED_CHARS = 64 * 1024


def _parse(sql: str) -> _Parsed | None:
    """The parsed template (cached for templates of ordinary size), or None for plain SQL."""
    if len(sql) <= _MAX_CACHED_CHARS:
        return _parse_cached(sql)
    return _parse_uncached(sql)


@lru_cache(maxsize=1024)
def _parse_cached(sql: str) -> _Parsed | None:
    return _parse_uncached(sql)


def _parse_uncached(sql: str) -> _Parsed | None:
    start = _template_start(sql)
    if start is None:
        return None
    body, first_line = start
    try:
        nodes = parse_template(body, first_line)
    except RecursionError:
        raise TemplateError(f"{SYNTAX}the template is nested too deeply") from None
    names = frozenset(n.id for e in _expressions(nodes) for n in ast.walk(e) if isinstance(n, ast.Name))
    return _Parsed(nodes, names)


def render_template(
    sql: str,
    params: Mapping[str, object],
    *,
    test_mode: bool = False,
    column_check: Callable[[str], bool] | None = None,
) -> Rendered:
    """Render SQL text; see :func:`render`. Also returns settings and reserved-name warnings."""
    parsed = _parse(sql)
    if parsed is None:
        return Rendered(sql, {}, [])
    if JOB_TIMESTAMP_PARAM in parsed.names and JOB_TIMESTAMP_PARAM not in params:
        params = {**params, JOB_TIMESTAMP_PARAM: datetime.now().strftime("%Y-%m-%d %H:%M:%S")}
    ctx = Context(params=params, functions=FUNCTIONS, test_mode=test_mode, column_check=column_check)
    try:
        text = render_nodes(ctx, parsed.nodes)
    except TemplateLimitError:
        raise
    except TemplateError:
        if ctx.missing:
            raise _required_error(ctx.missing) from None
        raise
    if ctx.missing:
        raise _required_error(ctx.missing)
    warnings = sorted(parsed.names & RESERVED_PARAM_NAMES)
    return Rendered(text, dict(ctx.settings), warnings)


def render(
    sql: str,
    params: Mapping[str, str | list[str]],
    *,
    test_mode: bool = False,
    column_check: Callable[[str], bool] | None = None,
) -> str:
    """Render SQL text with request parameters (strings; a list when a key was repeated).

    SQL that is not a template is returned unchanged; a template loses its leading ``%`` line.
    ``test_mode`` renders missing values as placeholders (``'__no_value__'``, ``0``,
    ``'2019-01-01'``...) instead of failing. ``column_check``, when given, must accept every
    column name that ``column()``/``columns()`` render. Raises :class:`TemplateError` (400) or
    :class:`CustomError` (the template's own body and status).
    """
    return render_template(sql, params, test_mode=test_mode, column_check=column_check).sql


def _required_error(names: list[str]) -> TemplateError:
    unique = list(dict.fromkeys(names))
    joined = unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " and " + unique[-1]
    return TemplateError(
        f"{SYNTAX}{REQUIRED_PARAM_NOT_DEFINED}. Check the parameters {joined}. "
        "Please provide a value or set a default value in the pipe code."
    )


# --- static analysis --------------------------------------------------------------------------


def _expressions(nodes: list[Node]) -> Iterator[ast.expr]:
    """Every Python expression of the template, in source order (all branches)."""
    for node in nodes:
        if isinstance(node, Expr):
            yield node.code
        elif isinstance(node, If):
            for test, body in node.branches:
                if test is not None:
                    yield test
                yield from _expressions(body)
        elif isinstance(node, For):
            yield node.target
            yield node.iter
            yield from _expressions(node.body)
            yield from _expressions(node.orelse)
        elif isinstance(node, While):
            yield node.test
            yield from _expressions(node.body)
            yield from _expressions(node.orelse)
        elif isinstance(node, Set):
            yield from node.targets
            yield node.value
        elif isinstance(node, Try):
            yield from _expressions(node.body)
            yield from _expressions(node.handler or [])
            yield from _expressions(node.final)


def _bound_names(nodes: list[Node]) -> tuple[set[str], set[str]]:
    """Names the template assigns: (by ``set`` or ``except ... as``, by ``for``)."""
    assigned: set[str] = set()
    loop: set[str] = set()

    def walk(ns: list[Node]) -> None:
        for node in ns:
            if isinstance(node, Set):
                assigned.update(n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name))
            elif isinstance(node, For):
                loop.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, If):
                for _, body in node.branches:
                    walk(body)
            elif isinstance(node, While):
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, Try):
                if node.handler_name:
                    assigned.add(node.handler_name)
                walk(node.body)
                walk(node.handler or [])
                walk(node.final)

    walk(nodes)
    return assigned, loop


_NO_CONSTANT = object()


def _constant(node: ast.expr | None) -> object:
    """The value of a literal default (``1``, ``-1.5``, ``'a'``, ``['a', 'b']``), else _NO_CONSTANT."""
    if node is None:
        return _NO_CONSTANT
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _constant(node.operand)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v
        return _NO_CONSTANT
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_constant(e) for e in node.elts]
        return _NO_CONSTANT if any(i is _NO_CONSTANT for i in items) else items
    return _NO_CONSTANT


def _json_default(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_SAFE_INTEGER:
        return str(value)
    return value


class _Collector:
    def __init__(self, assigned: set[str], loop: set[str]) -> None:
        self.params: dict[str, TemplateParam] = {}
        self.typed: set[str] = set()
        self.assigned = assigned
        self.loop = loop

    def untyped(self, name: str) -> None:
        if name in self.assigned or name in self.loop or name in self.params:
            return
        self.params[name] = TemplateParam(name, "String", None, False, None)

    def add_typed(self, call: ast.Call, fn: str) -> None:
        first = call.args[0]
        assert isinstance(first, ast.Name)
        name = first.id
        if name in self.loop or name in self.typed:
            return
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        if fn == "Array":
            inner = _constant(call.args[1] if len(call.args) > 1 else kw.get("_type"))
            inner_name = inner if isinstance(inner, str) else "String"
            inner_name = {"Int": "Int32", "Integer": "Int32", "bool": "Boolean"}.get(inner_name, inner_name)
            ch_type = f"Array({inner_name})"
            default_node = kw.get("default", call.args[2] if len(call.args) > 2 else None)
        else:
            ch_type = TYPED_FUNCTIONS[fn]
            default_node = kw.get("default", call.args[1] if len(call.args) > 1 else None)
        default = _constant(default_node)
        meta = {k: _constant(kw.get(k)) for k in _META_KEYS}
        meta = {k: (None if v is _NO_CONSTANT else v) for k, v in meta.items()}
        enum = meta["enum"]
        self.params[name] = TemplateParam(
            name=name,
            type=ch_type,
            default=None if default is _NO_CONSTANT else _json_default(default),
            required=meta["required"] is True,
            description=meta["description"] if isinstance(meta["description"], str) else None,
            enum=list(enum) if isinstance(enum, list) else None,
            example=meta["example"],
            format=meta["format"] if isinstance(meta["format"], str) else None,
        )
        self.typed.add(name)

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            fn = node.func.id
            args = list(node.args)
            if (fn in TYPED_FUNCTIONS or fn == "Array") and args and isinstance(args[0], ast.Name):
                self.add_typed(node, fn)
                args = args[1:]
            elif fn in NAME_FUNCTIONS and args and isinstance(args[0], ast.Name):
                self.untyped(args[0].id)
                args = args[1:]
            for a in args:
                self.visit(a)
            for k in node.keywords:
                self.visit(k.value)
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.untyped(node.id)
            return
        if isinstance(node, ast.IfExp):
            for part in (node.body, node.test, node.orelse):
                self.visit(part)
            return
        for child in ast.iter_child_nodes(node):
            self.visit(child)


def parameters(sql: str) -> list[TemplateParam]:
    """The parameters a template reads, in order of appearance, from every branch.

    Typed calls (``Int32(x, 1, description=..., required=True)``, ``Array(ids, 'Int32')``...) give
    the type, default and metadata; the first typed use of a name wins. Names read without a type
    (``{{x}}``, ``defined(x)``) are listed as ``String`` with no default. Names the template
    assigns with ``set`` or ``for`` are not parameters. Non-template SQL has none.
    """
    parsed = _parse(sql)
    if parsed is None:
        return []
    assigned, loop = _bound_names(parsed.nodes)
    collector = _Collector(assigned, loop)
    for expr in _expressions(parsed.nodes):
        collector.visit(expr)
    return list(collector.params.values())
