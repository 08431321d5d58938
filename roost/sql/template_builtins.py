"""Python builtins a template may call, each with a bounded result.

``len``, ``range``, ``enumerate``, ``sum``, ``min``, ``max``, ``abs``, ``int``, ``float``, ``str``,
``round``, ``sorted``, ``list``, ``reversed``, ``zip``, ``any``, ``all``: they take and return
plain template values only (numbers, strings, lists), never Python objects.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from roost.sql import literals
from roost.sql.template_eval import (
    MAX_ARRAY_ITEMS,
    NO_VALUE,
    Call,
    Context,
    Function,
    Placeholder,
    check_size,
    compare,
    iterate,
    shown,
    truthy,
    type_name,
    unwrap,
)
from roost.sql.template_parse import syntax_error

_LT = ast.Lt()
_GT = ast.Gt()


def _num(value: object, fn: str) -> int | float:
    value = unwrap(value)
    if isinstance(value, (int, float)):
        return value
    raise syntax_error(f"{fn}() expects a number, got {type_name(value)}")


def _builtin(fn: Callable[..., object], max_args: int, min_args: int = 1) -> Function:
    def call_builtin(ctx: Context, call: Call) -> object:
        if call.kwargs and fn not in (_b_sorted, _b_enumerate, _b_round):
            raise syntax_error(f"{call.fn}() takes no keyword arguments, line {call.line}")
        if not min_args <= len(call.args) <= max_args:
            raise syntax_error(f"{call.fn}() takes {min_args} to {max_args} arguments, line {call.line}")
        try:
            return check_size(fn(*[unwrap(a) for a in call.args], **call.kwargs))
        except TypeError as e:
            raise syntax_error(f"{call.fn}(): {e}, line {call.line}") from None

    return call_builtin


def _b_len(x: object) -> int:
    if isinstance(x, (str, list, tuple, dict)):
        return len(x)
    raise syntax_error(f"object of type '{type_name(x)}' has no len()")


def _b_range(*args: object) -> list[int]:
    ints = [a for a in args if isinstance(a, int) and not isinstance(a, bool)]
    if len(ints) != len(args):
        raise syntax_error("range() expects integers")
    if len(ints) == 3 and ints[2] == 0:
        raise syntax_error("range() arg 3 must not be zero")
    r = range(*ints)
    if len(r) > MAX_ARRAY_ITEMS:
        raise syntax_error(f"range() is too long (the limit is {MAX_ARRAY_ITEMS})")
    return list(r)


def _b_enumerate(x: object, start: object = 0) -> list[tuple[int, object]]:
    start = unwrap(start)
    if not isinstance(start, int):
        raise syntax_error("enumerate() start must be an integer")
    return [(start + i, v) for i, v in enumerate(iterate(x))]


def _b_sum(x: object, start: object = 0) -> object:
    total = _num(start, "sum")
    for v in iterate(x):
        total = total + _num(v, "sum")
        check_size(total)
    return total


def _minmax(name: str, pick: Callable[[object, object], bool]) -> Callable[..., object]:
    def fn(*args: object) -> object:
        items = list(iterate(args[0])) if len(args) == 1 else list(args)
        if not items:
            raise syntax_error(f"{name}() arg is an empty sequence")
        best = items[0]
        for v in items[1:]:
            if pick(v, best):
                best = v
        return best

    return fn


def _b_int(x: object) -> int:
    if isinstance(x, float):
        return int(x)
    try:
        v = literals.coerce(x, "Int256") if not isinstance(x, bool) else int(x)
    except ValueError:
        raise syntax_error(f"invalid literal for int(): '{shown(x)}'") from None
    assert isinstance(v, int)
    return v


def _b_float(x: object) -> float:
    try:
        v = literals.coerce(x, "Float64")
    except ValueError:
        raise syntax_error(f"could not convert to float: '{shown(x)}'") from None
    assert isinstance(v, float)
    return v


def _b_str(x: object) -> str:
    if isinstance(x, Placeholder):
        return NO_VALUE
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, (str, int, float)):
        return str(x) if not isinstance(x, float) else repr(x)
    raise syntax_error(f"str() of a {type_name(x)} is not supported")


def _b_round(x: object, ndigits: object = None) -> object:
    n = _num(x, "round")
    nd = unwrap(ndigits)
    if nd is None:
        return round(n)
    if not isinstance(nd, int) or not -30 <= nd <= 30:
        raise syntax_error("round() ndigits must be an integer between -30 and 30")
    return round(n, nd)


def _b_sorted(x: object, reverse: object = False) -> list[object]:
    items = list(iterate(x))
    for v in items[1:]:
        compare_check(items[0], v)
    return sorted(items, key=unwrap, reverse=truthy(reverse))  # type: ignore[arg-type]


def compare_check(a: object, b: object) -> None:
    compare(_LT, a, b)


def _b_zip(*args: object) -> list[tuple[object, ...]]:
    return list(zip(*[list(iterate(a)) for a in args], strict=False))


BUILTINS: dict[str, Function] = {
    "len": _builtin(_b_len, 1),
    "range": _builtin(_b_range, 3),
    "enumerate": _builtin(_b_enumerate, 2),
    "sum": _builtin(_b_sum, 2),
    "min": _builtin(_minmax("min", lambda a, b: compare(_LT, a, b)), MAX_ARRAY_ITEMS),
    "max": _builtin(_minmax("max", lambda a, b: compare(_GT, a, b)), MAX_ARRAY_ITEMS),
    "abs": _builtin(lambda x: abs(_num(x, "abs")), 1),
    "int": _builtin(_b_int, 1),
    "float": _builtin(_b_float, 1),
    "str": _builtin(_b_str, 1),
    "round": _builtin(_b_round, 2),
    "sorted": _builtin(_b_sorted, 1),
    "list": _builtin(lambda x: list(iterate(x)), 1),
    "reversed": _builtin(lambda x: list(iterate(x))[::-1], 1),
    "zip": _builtin(_b_zip, 10, 0),
    "any": _builtin(lambda x: any(truthy(v) for v in iterate(x)), 1),
    "all": _builtin(lambda x: all(truthy(v) for v in iterate(x)), 1),
}
