"""The one path from a value to ClickHouse SQL text.

Every request value that ends up in SQL goes through this module: a string becomes a quoted,
escaped literal; a typed parameter is validated here and rendered the way Tinybird renders it;
a name becomes a backtick-quoted identifier. Nothing else in Roost pastes a value into SQL.

>>> string_literal("a'b\\\\c")
"'a\\\\'b\\\\\\\\c'"
>>> typed_literal("5", "Int32")
"toInt32('5')"
>>> typed_literal("5", "Int")
'5'
>>> typed_literal(["a", "b"], "Array(String)")
"['a','b']"
>>> identifier("a.b")
'`a`.`b`'
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime

__all__ = [
    "INT_RANGES",
    "FLOAT_TYPES",
    "SCALAR_TYPES",
    "coerce",
    "element_literal",
    "identifier",
    "normalize_type",
    "string_literal",
    "typed_literal",
]

INT_RANGES: dict[str, tuple[int, int]] = {
    **{f"Int{b}": (-(2 ** (b - 1)), 2 ** (b - 1) - 1) for b in (8, 16, 32, 64, 128, 256)},
    **{f"UInt{b}": (0, 2**b - 1) for b in (8, 16, 32, 64, 128, 256)},
}
FLOAT_TYPES = ("Float32", "Float64")
# "Int" and "Integer" are Int32 values that render as a bare number.
SCALAR_TYPES = frozenset(
    {"String", "Int", "Integer", "Boolean", "Date", "DateTime", "DateTime64", *INT_RANGES, *FLOAT_TYPES}
)
_TYPE_ALIASES = {"bool": "Boolean", "Bool": "Boolean"}

# Escapes for a single-quoted ClickHouse string: the quote, the backslash, and every control
# character (so that a value can never end a comment line or hide a byte from a log reader).
_STRING_ESCAPES: dict[int, str] = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
_STRING_ESCAPES.update(
    {ord("\\"): "\\\\", ord("'"): "\\'", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0: "\\0"}
)
_IDENT_ESCAPES = {ord("\\"): "\\\\", ord("`"): "\\`"}
_BAD_IDENT_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")

_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}:[0-9]{2})")
_DATETIME64_RE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?")
_MAX_NUMBER_CHARS = 400


def _check_text(s: str) -> None:
    if _SURROGATES.search(s):
        raise ValueError("the value is not valid Unicode text")


def string_literal(s: str) -> str:
    """A single-quoted ClickHouse string literal that reads back as exactly ``s``."""
    if not isinstance(s, str):
        raise TypeError(f"string_literal expects str, got {type(s).__name__}")
    _check_text(s)
    return "'" + s.translate(_STRING_ESCAPES) + "'"


def identifier(name: str, *, split_dots: bool = True) -> str:
    """A backtick-quoted identifier; ``a.b`` becomes `` `a`.`b` `` unless ``split_dots`` is False."""
    if not isinstance(name, str):
        raise TypeError(f"identifier expects str, got {type(name).__name__}")
    _check_text(name)
    if _BAD_IDENT_CHARS.search(name):
        raise ValueError("an identifier cannot contain control characters")
    parts = name.split(".") if split_dots else [name]
    if any(p == "" for p in parts):
        raise ValueError(f"invalid identifier {name!r}")
    return ".".join("`" + p.translate(_IDENT_ESCAPES) + "`" for p in parts)


def normalize_type(ch_type: str) -> str:
    """The canonical name of a template type: ``bool`` -> ``Boolean``; ``Array(T)`` keeps its shape."""
    t = ch_type.strip()
    t = _TYPE_ALIASES.get(t, t)
    if t.startswith("Array(") and t.endswith(")"):
        inner = normalize_type(t[6:-1])
        if inner not in SCALAR_TYPES:
            raise ValueError(f"unsupported Array element type {ch_type!r}")
        return f"Array({inner})"
    if t not in SCALAR_TYPES:
        raise ValueError(f"unsupported type {ch_type!r}")
    return t


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    raise ValueError(f"cannot use a {type(value).__name__} here")


def _coerce_int(value: object, t: str) -> int:
    if isinstance(value, bool):
        n = int(value)
    elif isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    else:
        text = _as_text(value).strip()
        if len(text) > _MAX_NUMBER_CHARS or not _INT_RE.fullmatch(text):
            raise ValueError(f"not an integer: {value!r}")
        n = int(text)
    lo, hi = INT_RANGES["Int32" if t in ("Int", "Integer") else t]
    if not lo <= n <= hi:
        raise ValueError(f"{n} is out of range for {t}")
    return n


def _coerce_float(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        f = float(value)
    else:
        text = _as_text(value).strip()
        if len(text) > _MAX_NUMBER_CHARS or not _FLOAT_RE.fullmatch(text):
            raise ValueError(f"not a number: {value!r}")
        f = float(text)
    if not math.isfinite(f):
        raise ValueError(f"not a finite number: {value!r}")
    return f


def _coerce_boolean(value: object) -> int:
    if isinstance(value, str):
        return 0 if value.strip().lower() in ("0", "false", "") else 1
    return 1 if value else 0


def _coerce_date(value: object) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = _as_text(value).strip()
    if not _DATE_RE.fullmatch(text):
        raise ValueError(f"not a date: {value!r}")
    return date.fromisoformat(text).isoformat()


def _coerce_datetime(value: object, t: str) -> str:
    if isinstance(value, datetime):
        if t == "DateTime":
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    text = _as_text(value).strip()
    m = (_DATETIME_RE if t == "DateTime" else _DATETIME64_RE).fullmatch(text)
    if not m:
        raise ValueError(f"not a {t}: {value!r}")
    # Validates the calendar date and the time of day.
    datetime.strptime(f"{m.group(1)} {m.group(2)}", "%Y-%m-%d %H:%M:%S")
    frac = m.group(3) if t == "DateTime64" else None
    return f"{m.group(1)} {m.group(2)}{frac or ''}"


def coerce(value: object, ch_type: str) -> object:
    """Validate ``value`` (a request string, or a Python value) against a template type.

    Returns the Python value the template works with: ``int`` for integer types and Boolean,
    ``float`` for Float32/64, normalized ``str`` for String and the date types, a ``list`` for
    ``Array(T)`` (a comma-separated string or a sequence). Raises ``ValueError`` when invalid.
    """
    t = normalize_type(ch_type)
    if t.startswith("Array("):
        inner = t[6:-1]
        if isinstance(value, str):
            items: Sequence[object] = value.split(",")
        elif isinstance(value, (list, tuple)):
            items = value
        else:
            raise ValueError(f"not an array: {value!r}")
        return [coerce(v, inner) for v in items]
    if t == "String":
        if isinstance(value, str):
            _check_text(value)
            return value
        return _as_text(value)
    if t in ("Int", "Integer") or t in INT_RANGES:
        return _coerce_int(value, t)
    if t in FLOAT_TYPES:
        return _coerce_float(value)
    if t == "Boolean":
        return _coerce_boolean(value)
    if t == "Date":
        return _coerce_date(value)
    return _coerce_datetime(value, t)


def _float_text(f: float) -> str:
    if not math.isfinite(f):
        raise ValueError("not a finite number")
    return repr(f)


def element_literal(value: object, ch_type: str) -> str:
    """One item of an Array literal: integers and floats bare, strings and dates quoted."""
    t = normalize_type(ch_type)
    v = coerce(value, t)
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _float_text(v)
    if isinstance(v, str):
        return string_literal(v)
    raise ValueError(f"cannot render {ch_type} element")


def typed_literal(value: object, ch_type: str) -> str:
    """Validate ``value`` as ``ch_type`` and render it the way Tinybird renders that type.

    ``Int``/``Integer`` -> ``5``; ``Int8``..``UInt256`` -> ``toInt32('5')``; ``Float32/64`` ->
    ``toFloat32('1.0')``; ``Boolean`` -> ``1``/``0``; ``String``/``Date``/``DateTime``/``DateTime64``
    -> a quoted literal; ``Array(T)`` -> ``[1,2]`` / ``['a','b']``. Raises ``ValueError`` when invalid.
    """
    t = normalize_type(ch_type)
    if t.startswith("Array("):
        inner = t[6:-1]
        items = coerce(value, t)
        assert isinstance(items, list)
        return "[" + ",".join(element_literal(v, inner) for v in items) + "]"
    v = coerce(value, t)
    if t in INT_RANGES:
        return f"to{t}('{v}')"
    if t in FLOAT_TYPES:
        assert isinstance(v, float)
        return f"to{t}('{_float_text(v)}')"
    if isinstance(v, int):  # Int, Integer, Boolean
        return str(v)
    assert isinstance(v, str)
    return string_literal(v)
