"""The functions a template may call: typed parameters, identifiers, helpers, settings.

Each function receives the render :class:`~roost.sql.template_eval.Context` and the evaluated
:class:`~roost.sql.template_eval.Call`. Values reach SQL only as ``SQL`` objects built by
:mod:`roost.sql.literals`, or as plain Python values that the renderer escapes the same way.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

from roost.errors import RoostError
from roost.sql import literals
from roost.sql.template_builtins import BUILTINS
from roost.sql.template_eval import (
    MAX_ARRAY_ITEMS,
    MAX_PARAM_CHARS,
    NO_VALUE,
    SQL,
    Call,
    Context,
    Function,
    Placeholder,
    iterate,
    render_value,
    shown,
    truthy,
    type_name,
    unwrap,
)
from roost.sql.template_parse import SYNTAX, TemplateError, syntax_error

REQUIRED_PARAM_NOT_DEFINED = "Required parameter is not defined"
META_KWARGS = ("default", "defined", "required", "description", "enum", "example", "format")
# Values used for a missing parameter in test mode (Tinybird's placeholders).
TEST_PLACEHOLDERS: dict[str, object] = {
    "String": NO_VALUE,
    "Date": "2019-01-01",
    "DateTime": "2019-01-01 00:00:00",
    "DateTime64": "2019-01-01 00:00:00.000",
    "Float32": 0.0,
    "Float64": 0.0,
    "Boolean": 0,
    **{t: 0 for t in ("Int", "Integer", *literals.INT_RANGES)},
}
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SAFE_HINT = re.compile(r"[A-Za-z0-9_.:\-]{0,64}")


class CustomError(RoostError):
    """``custom_error({...}, code)``: the template chose the JSON body and the status."""

    status = 400

    def __init__(self, body: dict[str, Any], status: int = 400) -> None:
        message = body.get("error") if isinstance(body.get("error"), str) else json.dumps(body)
        super().__init__(str(message), body=body, status=status)


def validation_error(
    value: object, ch_type: str, name: str | None, detail: str | None = None
) -> TemplateError:
    """Tinybird's ``Error validating 'x' to type T``, naming the parameter when it is known."""
    tinybird = detail or f"Error validating '{shown(value)}' to type {ch_type}"
    if name is None:
        return TemplateError(SYNTAX + tinybird)
    expected = f"Array({ch_type})" if detail else ch_type
    return TemplateError(
        f"[Error] Invalid value '{shown(value)}' for parameter '{name}': expected {expected} ({tinybird})"
    )


def bind(call: Call, spec: tuple[str, ...], required: int = 1) -> dict[str, object]:
    """Match positional and keyword arguments to ``spec`` like a Python signature would."""
    if len(call.args) > len(spec):
        raise syntax_error(f"{call.fn}() takes at most {len(spec)} arguments, line {call.line}")
    bound: dict[str, object] = dict(zip(spec, call.args, strict=False))
    for key, value in call.kwargs.items():
        if key not in spec:
            raise syntax_error(f"{call.fn}() got an unexpected keyword argument '{key}', line {call.line}")
        if key in bound:
            raise syntax_error(f"{call.fn}() got multiple values for argument '{key}', line {call.line}")
        bound[key] = value
    for key in spec[:required]:
        if key not in bound:
            raise syntax_error(
                f"one of the transform type functions is missing an argument: {call.fn}() needs "
                f"'{key}', line {call.line}"
            )
    return bound


def _scalar(value: object) -> object:
    """A request value as one value: the last of repeated keys, SQL objects unwrapped."""
    value = unwrap(value)
    if isinstance(value, list):
        return unwrap(value[-1]) if value else None
    return value


def _missing(ctx: Context, call: Call, placeholder: object) -> object:
    """A required parameter has no value: note its name, keep rendering, fail at the end."""
    name = call.name(0)
    if name is None:
        raise syntax_error(
            f"{REQUIRED_PARAM_NOT_DEFINED}. Please provide a value or set a default value in the pipe code."
        )
    ctx.missing.append(name)
    return placeholder


# --- typed parameters -------------------------------------------------------------------------


def _typed(ch_type: str) -> Function:
    shown_type = "Int32" if ch_type in ("Int", "Integer") else ch_type

    def fn(ctx: Context, call: Call) -> object:
        a = bind(call, ("x", *META_KWARGS))
        x = _scalar(a["x"])
        default = unwrap(a.get("default"))
        if isinstance(x, Placeholder):
            x = default if truthy(default) else TEST_PLACEHOLDERS[ch_type]
        elif x is None:
            x = default
            if x is None:
                if not truthy(a.get("defined", True)):
                    return None
                x = _missing(ctx, call, TEST_PLACEHOLDERS[ch_type])
        try:
            v = literals.coerce(x, ch_type)
        except ValueError:
            raise validation_error(x, shown_type, call.name(0)) from None
        if ch_type in literals.INT_RANGES or ch_type in literals.FLOAT_TYPES:
            return SQL(literals.typed_literal(v, ch_type), v)
        return v

    return fn


def _boolean(ctx: Context, call: Call) -> object:
    a = bind(call, ("x", *META_KWARGS))
    x = _scalar(a["x"])
    if isinstance(x, Placeholder) or x is None:
        x = unwrap(a.get("default"))
        if x is None:
            return 0
    return literals.coerce(x, "Boolean")


def _array_placeholder(ch_type: str) -> object:
    if ch_type == "String":
        return ""
    return [TEST_PLACEHOLDERS[ch_type]] * 2


def _array(ctx: Context, call: Call) -> object:
    a = bind(call, ("x", "_type", *META_KWARGS))
    raw_type = unwrap(a.get("_type")) or "String"
    try:
        ch_type = literals.normalize_type(str(raw_type))
    except ValueError:
        raise syntax_error(f"Unsupported Array type '{shown(raw_type)}', line {call.line}") from None
    if ch_type.startswith("Array("):
        raise syntax_error(f"Unsupported Array type '{shown(raw_type)}', line {call.line}")
    shown_type = "Int32" if ch_type in ("Int", "Integer") else ch_type
    x = unwrap(a["x"])
    default = unwrap(a.get("default"))
    if isinstance(x, Placeholder):
        x = default if truthy(default) else _array_placeholder(ch_type)
    elif x is None:
        x = default
        if x is None:
            if not truthy(a.get("defined", True)):
                return None
            x = _missing(ctx, call, _array_placeholder(ch_type))
    if isinstance(x, str):
        items: list[object] = list(x.split(",", MAX_ARRAY_ITEMS))
    elif isinstance(x, (list, tuple)):
        items = [unwrap(i) for i in x]
    else:
        items = [x]
    if len(items) > MAX_ARRAY_ITEMS:
        raise syntax_error(f"Array has too many items (the limit is {MAX_ARRAY_ITEMS}), line {call.line}")
    whole = x if isinstance(x, str) else ",".join(shown(i) for i in items)
    values: list[object] = []
    sql_items: list[str] = []
    for i, item in enumerate(items):
        try:
            v = literals.coerce(item, ch_type)
            sql_items.append(literals.element_literal(v, ch_type))
        except ValueError:
            what = "empty string" if item == "" else shown(item)
            detail = f"Error validating [{shown(whole)}][{i}] ({what}) to type {shown_type}"
            raise validation_error(item, shown_type, call.name(0), detail) from None
        values.append(v)
    return SQL("[" + ",".join(sql_items) + "]", values)


def _json(ctx: Context, call: Call) -> object:
    a = bind(call, ("x", "default"))
    x = _scalar(a["x"])
    default = unwrap(a.get("default"))
    if isinstance(x, Placeholder):
        x = default if truthy(default) else "{}"
    elif x is None:
        x = default if isinstance(default, str) else "{}"
    if not isinstance(x, str):
        return x
    if len(x) > MAX_PARAM_CHARS:
        raise syntax_error(f"Error parsing JSON: the value is too large (over {MAX_PARAM_CHARS} characters)")
    try:
        return json.loads(x)
    except (ValueError, RecursionError) as e:
        value = x[:16] + "..." if len(x) > 16 else x
        raise syntax_error(f"Error parsing JSON: '{value}' - {e}") from None


# --- identifiers ------------------------------------------------------------------------------


def _column_ident(ctx: Context, name: str, fn: str) -> SQL:
    name = name.replace('"', "")
    try:
        sql = literals.identifier(name)
    except ValueError:
        raise syntax_error(f"Invalid column name '{shown(name)}' in {fn}()") from None
    if ctx.column_check is not None and not ctx.column_check(name):
        raise syntax_error(f"Unknown column '{shown(name)}' in {fn}()")
    return SQL(sql, name)


def _column(ctx: Context, call: Call) -> object:
    a = bind(call, ("x", "default"))
    x = _scalar(a["x"])
    if x is None or isinstance(x, Placeholder):
        x = unwrap(a.get("default"))
        if x is None:
            raise syntax_error(
                "Missing column() default value, use `column(column_name, 'default_column_name')`"
            )
    if not isinstance(x, str):
        raise syntax_error(f"column() expects a String, got {type_name(x)}")
    return _column_ident(ctx, x, "column")


def _columns(ctx: Context, call: Call) -> object:
    a = bind(call, ("x", "default", "fn"))
    x = unwrap(a["x"])
    if x is None or isinstance(x, Placeholder):
        x = unwrap(a.get("default"))
        if x is None:
            raise syntax_error(
                "Missing columns() default value, use `columns(column_names, 'default_column_name')`"
            )
    if not isinstance(x, str):
        raise syntax_error("The 'columns' function expects a String not an Array")
    fn = unwrap(a.get("fn"))
    if fn is not None and (not isinstance(fn, str) or not _PLAIN_NAME.fullmatch(fn)):
        raise syntax_error(f"Invalid function name '{shown(fn)}' in columns()")
    names = [c.strip() for c in x.split(",", MAX_ARRAY_ITEMS)]
    if len(names) > MAX_ARRAY_ITEMS:
        raise syntax_error("columns() got too many columns")
    idents = [_column_ident(ctx, c, "columns") for c in names]
    if fn:
        parts = [f"{fn}({i.sql}) as {literals.identifier(str(i.value), split_dots=False)}" for i in idents]
    else:
        parts = [i.sql for i in idents]
    return SQL(",".join(parts), [i.value for i in idents])


def _symbol(ctx: Context, call: Call) -> object:
    a = bind(call, ("x", "quote"))
    x = _scalar(a["x"])
    if a.get("quote", "`") != "`":
        raise syntax_error("symbol() only supports the ` quote")
    if isinstance(x, Placeholder):
        return SQL("`placeholder`", "placeholder")
    if not isinstance(x, str):
        raise syntax_error(f"symbol() expects a String, got {type_name(x)}")
    name = x.replace('"', "")
    try:
        return SQL(literals.identifier(name, split_dots=False), name)
    except ValueError:
        raise syntax_error(f"Invalid symbol '{shown(name)}'") from None


def _table(ctx: Context, call: Call) -> object:
    a = bind(call, ("x", "quote"))
    x = _scalar(a["x"])
    if isinstance(x, Placeholder):
        return SQL("placeholder", "placeholder")
    if not isinstance(x, str) or not _PLAIN_NAME.fullmatch(x.replace('"', "")):
        raise syntax_error(f"Invalid table name '{shown(x)}'")
    name = x.replace('"', "")
    return SQL(name, name)


# --- helpers ----------------------------------------------------------------------------------


def _defined(ctx: Context, call: Call) -> object:
    a = bind(call, ("x",), required=0)
    x = unwrap(a.get("x"))
    return not (x is None or isinstance(x, Placeholder))


_SQL_AND_OPS = {"in": "in", "not_in": "not in", "gt": ">", "lt": "<", "gte": ">=", "lte": "<="}


def _sql_and(ctx: Context, call: Call) -> object:
    parts = []
    for key, value in call.kwargs.items():
        if value is None or (isinstance(value, SQL) and value.value is None):
            continue
        name, sep, op = key.rpartition("__")
        if not sep:
            name, sql_op = key, "="
        elif op in _SQL_AND_OPS:
            sql_op = _SQL_AND_OPS[op]
        else:
            raise syntax_error(f"operand {op} not supported")
        parts.append(f"{name} {sql_op} {render_value(value, key)}")
    return SQL(" and ".join(parts), None)


def _split_to_array(ctx: Context, call: Call) -> object:
    a = bind(call, ("x", "default", "separator"))
    x = unwrap(a["x"])
    if isinstance(x, Placeholder) or x is None:
        x = unwrap(a.get("default", ""))
    sep = unwrap(a.get("separator", ","))
    if not isinstance(sep, str) or not sep:
        raise syntax_error("split_to_array() needs a non-empty separator")
    if isinstance(x, list):
        items = [str(unwrap(i)).strip() for i in x]
    elif isinstance(x, str):
        items = [s.strip() for s in x.split(sep, MAX_ARRAY_ITEMS)]
    else:
        raise syntax_error(
            "First argument of split_to_array has to be a value that can be split to a list of elements"
        )
    if len(items) > MAX_ARRAY_ITEMS:
        raise syntax_error(f"split_to_array() gives too many items (the limit is {MAX_ARRAY_ITEMS})")
    return items


def _enumerate_with_last(ctx: Context, call: Call) -> object:
    a = bind(call, ("arr",))
    items = list(iterate(a["arr"]))
    return [(i == len(items) - 1, x) for i, x in enumerate(items)]


_DIFF_SPEC = ("d0", "d1", "date_format", "default", "backup_date_format", "none_if_error")
_DIFF_UNITS = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
_DIFF_FORMAT_HELP = (
    "defaults to YYYY-MM-DD hh:mm:ss. Or %Y-%m-%d %H:%M:%S [.ssssss]Z, "
    "e.g. ms: 2022-12-19T18:42:22.591Z s:2022-12-19T18:42:22Z"
)


def _parse_date(value: object, formats: list[str]) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a string")
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt)
        except (ValueError, TypeError, OverflowError, re.error):
            continue
    raise ValueError("no format matched")


def _date_diff(unit: str, default_format: str, fn_name: str) -> Function:
    def fn(ctx: Context, call: Call) -> object:
        a = bind(call, _DIFF_SPEC, required=2)
        d0, d1 = _scalar(a["d0"]), _scalar(a["d1"])
        if isinstance(d0, Placeholder) or isinstance(d1, Placeholder):
            default = unwrap(a.get("default"))
            return default if truthy(default) else 0
        formats = [str(unwrap(a.get("date_format") or default_format))]
        if a.get("backup_date_format"):
            formats.append(str(unwrap(a["backup_date_format"])))
        try:
            diff = abs((_parse_date(d1, formats) - _parse_date(d0, formats)).total_seconds())
        except ValueError:
            if truthy(a.get("none_if_error", False)):
                return None
            if fn_name == "day_diff":
                raise syntax_error(
                    "invalid date format in function `day_diff`, it must be ISO format date YYYY-MM-DD, "
                    "e.g. 2018-09-26. For other fotmats, try `date_diff_in_days`"
                ) from None
            if unit == "days":
                raise syntax_error(
                    f"invalid date format in function `{fn_name}`, it must be ISO format date YYYY-MM-DD, "
                    "e.g. 2018-09-26"
                ) from None
            raise syntax_error(f"invalid date_format in function `{fn_name}`, {_DIFF_FORMAT_HELP}") from None
        return int(diff / _DIFF_UNITS[unit])

    return fn


def _day_diff(ctx: Context, call: Call) -> object:
    a = bind(call, ("d0", "d1", "default"), required=2)
    inner = Call(call.fn, [a["d0"], a["d1"]], {"default": a.get("default")}, [], call.line)
    return _date_diff("days", "%Y-%m-%d", "day_diff")(ctx, inner)


def _sql_unescape(ctx: Context, call: Call) -> object:
    # Roost's string literals escape only what must be escaped (quote, backslash, control
    # characters), so ``%`` and ``_`` already reach LIKE as written: nothing to unescape.
    a = bind(call, ("x", "what"))
    x = _scalar(a["x"])
    if isinstance(x, Placeholder):
        x = NO_VALUE
    if not isinstance(x, str):
        raise syntax_error(f"sql_unescape() expects a String, got {type_name(x)}")
    try:
        return SQL(literals.string_literal(x), x)
    except ValueError as e:
        raise syntax_error(str(e)) from None


def _status(code: object) -> int:
    code = unwrap(code)
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return 400


def _error(ctx: Context, call: Call) -> object:
    a = bind(call, ("message", "code"))
    if ctx.test_mode:
        return SQL("", None)
    raise TemplateError(_shown_message(a["message"]), status=_status(a.get("code", 400)))


def _shown_message(value: object) -> str:
    value = unwrap(value)
    return value if isinstance(value, str) else json.dumps(_plain(value))


_MAX_BODY_CHARS = 64 * 1024


def _plain(value: object, budget: list[int] | None = None, depth: int = 0) -> Any:
    """A JSON-safe copy of a template value (for custom_error bodies), bounded in size."""
    budget = [_MAX_BODY_CHARS] if budget is None else budget
    budget[0] -= 8
    if depth > 50 or budget[0] < 0:
        raise syntax_error("custom_error() body is too large")
    value = unwrap(value)
    if isinstance(value, Placeholder):
        return NO_VALUE
    if isinstance(value, str):
        budget[0] -= len(value)
        if budget[0] < 0:
            raise syntax_error("custom_error() body is too large")
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, budget, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(_plain(k, budget, depth + 1)): _plain(v, budget, depth + 1) for k, v in value.items()}
    return str(value)


def _custom_error(ctx: Context, call: Call) -> object:
    a = bind(call, ("body", "code"))
    if ctx.test_mode:
        return SQL("", None)
    body = _plain(a["body"])
    if not isinstance(body, dict):
        body = {"error": body if isinstance(body, str) else json.dumps(body)}
    raise CustomError(body, _status(a.get("code", 400)))


def _secret(ctx: Context, call: Call) -> object:
    a = bind(call, ("name", "default"))
    name = unwrap(a["name"])
    if a.get("default") is not None:
        return a["default"]
    if ctx.test_mode and isinstance(name, str) and _PLAIN_NAME.fullmatch(name):
        return SQL("{" + name + ": String}", None)
    raise syntax_error(
        f"Cannot access secret '{shown(name)}'. Check the secret exists in the Workspace and the token "
        "has the required scope."
    )


def _max_threads(ctx: Context, call: Call) -> object:
    a = bind(call, ("n",))
    n = _scalar(a["n"])
    try:
        value = int(n) if isinstance(n, (int, str)) and not isinstance(n, bool) else None
    except ValueError:
        value = None
    if value is None or value < 1 or value > 1024:
        return SQL("-- max_threads: wrong argument\n", None)
    ctx.settings["max_threads"] = value
    return SQL(f"-- max_threads {value}\n", value)


def _backend_hint(ctx: Context, call: Call) -> object:
    hint = _scalar(bind(call, ("hint",))["hint"])
    if hint is None or hint is False:
        ctx.settings["backend_hint"] = None
        return SQL("-- backend_hint None\n", None)
    text = str(hint)[:256]
    ctx.settings["backend_hint"] = text
    return SQL(f"-- backend_hint {text}\n" if _SAFE_HINT.fullmatch(text) else "-- backend_hint\n", text)


_CACHE_TTLS = ("5s", "1m", "5m", "30m", "1h")


def _cache_ttl(ctx: Context, call: Call) -> object:
    ttl = _scalar(bind(call, ("ttl",))["ttl"])
    if ttl not in _CACHE_TTLS:
        raise syntax_error(f"Invalid TTL cache expression, valid expressions are {_CACHE_TTLS}")
    ctx.settings["cache_ttl"] = ttl
    return SQL(f"-- cache_ttl {ttl}\n", ttl)


def _feature(setting: str, valid: tuple[str, ...]) -> Function:
    def fn(ctx: Context, call: Call) -> object:
        feature = _scalar(bind(call, ("feature",))["feature"])
        if feature not in valid:
            raise syntax_error(f"'{shown(feature)}' is not a valid '{setting}' argument")
        ctx.settings[setting] = feature
        return SQL(f"-- {setting} {feature}\n", feature)

    return fn


def _build_functions() -> dict[str, Function]:
    fns: dict[str, Function] = {}
    for t in ("String", "Int", "Integer", "Date", "DateTime", "DateTime64", *literals.FLOAT_TYPES):
        fns[t] = _typed(t)
    for t in literals.INT_RANGES:
        fns[t] = _typed(t)
    fns.update(
        {
            "Boolean": _boolean,
            "bool": _boolean,
            "Array": _array,
            "JSON": _json,
            "column": _column,
            "columns": _columns,
            "symbol": _symbol,
            "Symbol": _symbol,
            "Column": _symbol,
            "table": _table,
            "TABLE": _table,
            "defined": _defined,
            "sql_and": _sql_and,
            "split_to_array": _split_to_array,
            "enumerate_with_last": _enumerate_with_last,
            "day_diff": _day_diff,
            "date_diff_in_days": _date_diff("days", "%Y-%m-%d", "date_diff_in_days"),
            "date_diff_in_hours": _date_diff("hours", "%Y-%m-%d %H:%M:%S", "date_diff_in_hours"),
            "date_diff_in_minutes": _date_diff("minutes", "%Y-%m-%d %H:%M:%S", "date_diff_in_minutes"),
            "date_diff_in_seconds": _date_diff("seconds", "%Y-%m-%d %H:%M:%S", "date_diff_in_seconds"),
            "sql_unescape": _sql_unescape,
            "error": _error,
            "custom_error": _custom_error,
            "tb_secret": _secret,
            "tb_var": _secret,
            "max_threads": _max_threads,
            "backend_hint": _backend_hint,
            "cache_ttl": _cache_ttl,
            "activate": _feature(
                "activate", ("analyzer", "parallel_replicas", "optimize_aggregation_in_order")
            ),
            "disable": _feature("disable", ("analyzer",)),
        }
    )
    fns.update(BUILTINS)
    return fns


FUNCTIONS: dict[str, Function] = _build_functions()
# Functions whose first argument names a parameter with a type (for ``parameters()``).
TYPED_FUNCTIONS: dict[str, str] = {
    **{
        t: t
        for t in ("String", "Date", "DateTime", "DateTime64", *literals.FLOAT_TYPES, *literals.INT_RANGES)
    },
    "Int": "Int32",
    "Integer": "Int32",
    "Boolean": "Boolean",
    "bool": "Boolean",
    "JSON": "JSON",
}
NAME_FUNCTIONS = frozenset({"defined", "column", "columns", "symbol", "split_to_array"})
