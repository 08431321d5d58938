"""Data source schemas: ``col Type [DEFAULT x] [CODEC(..)] `json:$.path`, ...`` and engine options.

Everything user-supplied that ends up in DDL (names, types, expressions) is parsed and regenerated
by sqlglot or checked against a strict grammar; no request text is pasted into SQL.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlglot import exp

from roost.errors import DOC_DATASOURCES, BadRequest

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_NAMES = frozenset(
    {
        "select", "from", "where", "table", "tables", "system", "default", "information_schema",
        "tinybird", "_", "null", "true", "false", "quarantine", "roost",
    }
)
ENGINES = (
    "MergeTree",
    "ReplacingMergeTree",
    "SummingMergeTree",
    "AggregatingMergeTree",
    "CollapsingMergeTree",
    "VersionedCollapsingMergeTree",
    "Null",
)
# Column types that can hold a whole NDJSON row (JSONPath ``$``)
WHOLE_ROW_TYPES = ("String", "Nullable(String)", "LowCardinality(String)")
# Column types whose values cannot be wrapped in Nullable(...)
_NO_NULLABLE = ("Array", "Map", "Tuple", "Nested", "AggregateFunction", "LowCardinality", "Nullable", "JSON",
                "Object", "Variant", "Dynamic")


def bad(msg: str) -> BadRequest:
    return BadRequest(msg, documentation=DOC_DATASOURCES)


def check_name(name: str, what: str = "Data Source") -> str:
    if not name or not IDENT_RE.match(name) or len(name) > 128:
        raise bad(
            f'Invalid {what} name "{name}". Name must start with a letter or underscore and contain only '
            "letters, numbers and underscores"
        )
    if name.lower() in RESERVED_NAMES or name.lower().startswith("t_") and len(name) == 34:
        raise bad(f'Invalid {what} name "{name}": it is a reserved word')
    return name


@dataclass
class Column:
    name: str
    type: str
    jsonpath: str | None = None
    default_value: str | None = None
    codec: str | None = None

    @property
    def nullable(self) -> bool:
        return self.type.startswith("Nullable(") or self.type.startswith("LowCardinality(Nullable(")

    def path_keys(self) -> tuple[list[str], bool] | None:
        """The JSONPath as keys and whether it maps an array (``[:]``); None for ``$`` (whole row)."""
        if self.jsonpath is None:
            return [self.name], False
        return parse_jsonpath(self.jsonpath)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "normalized_name": self.name,
            "type": self.type,
            "nullable": self.nullable,
            "codec": self.codec,
            "default_value": self.default_value,
            "jsonpath": self.jsonpath,
            "auto": False,
        }

    def ddl(self) -> str:
        out = f"`{self.name}` {self.type}"
        if self.default_value is not None:
            out += f" DEFAULT {self.default_value}"
        if self.codec:
            out += f" CODEC({self.codec})"
        return out

    def sql_schema(self) -> str:
        out = self.ddl()
        if self.jsonpath is not None:
            out += f" `json:{self.jsonpath}`"
        return out


@dataclass
class EngineSpec:
    engine: str = "MergeTree"
    sorting_key: str | None = None
    partition_key: str | None = None
    primary_key: str | None = None
    ttl: str | None = None
    ver: str | None = None
    sign: str | None = None
    version: str | None = None
    summing_columns: str | None = None
    settings: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def engine_full(self) -> str:
        args = ""
        if self.engine == "ReplacingMergeTree" and self.ver:
            args = f"(`{self.ver}`)"
        elif self.engine == "CollapsingMergeTree":
            args = f"(`{self.sign}`)"
        elif self.engine == "VersionedCollapsingMergeTree":
            args = f"(`{self.sign}`, `{self.version}`)"
        elif self.engine == "SummingMergeTree" and self.summing_columns:
            args = "(" + ", ".join(f"`{c}`" for c in self.summing_columns.split(",")) + ")"
        if self.engine == "Null":
            return "Null"
        out = f"{self.engine}{args}"
        if self.partition_key:
            out += f" PARTITION BY {_key_sql(self.partition_key)}"
        if self.primary_key:
            out += f" PRIMARY KEY {_key_sql(self.primary_key)}"
        out += f" ORDER BY {_key_sql(self.sorting_key or 'tuple()')}"
        if self.ttl:
            out += f" TTL {self.ttl}"
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": self.engine, "engine_full": self.engine_full()}
        for k in ("sorting_key", "partition_key", "primary_key", "ttl", "ver", "sign", "version"):
            v = getattr(self, k)
            if v:
                out[k] = v
                out[f"engine_{k}"] = v
        if not self.sorting_key and self.engine != "Null":
            out["sorting_key"] = "tuple()"
        return out

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)


# --- splitting ----------------------------------------------------------------------------------
def split_top(text: str, sep: str = ",", what: str = "schema") -> list[str]:
    """Split on ``sep`` outside parentheses, brackets, quotes and backticks."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    buf: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            buf.append(ch)
            if ch == "\\" and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
            buf.append(ch)
        elif ch in "([{":
            depth += 1
            buf.append(ch)
        elif ch in ")]}":
            depth -= 1
            buf.append(ch)
        elif ch == sep and depth == 0:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    if quote or depth != 0:
        raise bad(f"Invalid {what}: unbalanced quotes or parentheses")
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


_JSONPATH_RE = re.compile(r"`json:([^`]*)`")
_KEYWORD_RE = re.compile(r"\s+(DEFAULT|CODEC|MATERIALIZED|ALIAS|EPHEMERAL|COMMENT|TTL)\b", re.I)
_PATH_PART_RE = re.compile(r"\.([^.\[\]\s'\"`\\]+)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*\"((?:[^\"\\]|\\.)*)\"\s*\]")
_PATH_ESCAPE_RE = re.compile(r"\\(.)")


def parse_jsonpath(path: str) -> tuple[list[str], bool] | None:
    """``$.a.b`` -> (["a", "b"], False); ``$.items[:]`` -> (["items"], True); ``$`` -> None."""
    p = path.strip()
    if p == "$":
        return None
    if not p.startswith("$"):
        raise bad(f"Invalid JSONPath '{path}': it must start with '$'")
    rest = p[1:]
    is_array = False
    if rest.endswith("[:]"):
        is_array = True
        rest = rest[:-3]
    keys: list[str] = []
    pos = 0
    while pos < len(rest):
        m = _PATH_PART_RE.match(rest, pos)
        if not m:
            raise bad(f"Invalid JSONPath '{path}'")
        quoted = m.group(2) if m.group(2) is not None else m.group(3)
        keys.append(m.group(1) or _PATH_ESCAPE_RE.sub(r"\1", quoted or ""))
        pos = m.end()
    if not keys:
        raise bad(f"Invalid JSONPath '{path}'")
    return keys, is_array


def normalize_type(text: str) -> str:
    t = text.strip()
    if not t:
        raise bad("Invalid schema: a column has no type")
    try:
        dt = exp.DataType.build(t, dialect="clickhouse")
    except Exception:
        raise bad(f"Invalid data type '{t}'") from None
    if not isinstance(dt, exp.DataType) or dt.find(exp.Subquery, exp.Select, exp.Table):
        raise bad(f"Invalid data type '{t}'")
    return dt.sql("clickhouse")


def normalize_expr(text: str, what: str, columns: set[str] | None = None) -> str:
    """Check an expression (a DEFAULT, a sorting key, a TTL...) and regenerate it from its tree.

    The SQL compiler's expression check applies: one expression, no subqueries or tables, allow-listed
    functions only, and, when ``columns`` is given, only those columns.
    """
    from roost.errors import RoostError
    from roost.sql.compiler import validate_filter

    t = text.strip()
    if not t:
        raise bad(f"Invalid {what}: it is empty")
    try:
        return validate_filter(t, columns)
    except RoostError as e:
        shown = t if len(t) <= 200 else t[:200] + "..."
        raise bad(f"Invalid {what} '{shown}': {e.message}") from None


def normalize_list(text: str, what: str, columns: set[str] | None = None) -> str:
    """A comma-separated list of expressions (``user_id, timestamp``), each checked and regenerated."""
    parts = split_top(text, what=what)
    if not parts:
        raise bad(f"Invalid {what}: it is empty")
    return ", ".join(normalize_expr(p, what, columns) for p in parts)


def _key_sql(key: str) -> str:
    """A key as it goes after ORDER BY / PARTITION BY: a list of expressions becomes a tuple."""
    return f"({key})" if len(split_top(key)) > 1 else key


def parse_column(text: str) -> Column:
    jsonpath = None
    m = _JSONPATH_RE.search(text)
    if m:
        jsonpath = m.group(1).strip()
        text = (text[: m.start()] + text[m.end():]).strip()
        parse_jsonpath(jsonpath)  # validate
    text = text.strip()
    if not text:
        raise bad("Invalid schema: a column has a JSONPath but no name and type")
    if text.startswith("`"):
        end = text.find("`", 1)
        if end < 0:
            raise bad(f"Invalid column definition '{text}'")
        name, rest = text[1:end], text[end + 1:]
    else:
        parts = text.split(None, 1)
        name, rest = parts[0], (parts[1] if len(parts) > 1 else "")
    check_name(name, "column")
    default = codec = None
    km = _KEYWORD_RE.search(" " + rest)
    type_text = rest if not km else (" " + rest)[: km.start()]
    tail = "" if not km else (" " + rest)[km.start():]
    for piece in re.split(r"\s+(?=(?:DEFAULT|CODEC)\b)", tail.strip(), flags=re.I):
        if not piece:
            continue
        kw = piece.split(None, 1)[0].upper()
        if kw == "DEFAULT":
            default = normalize_expr(piece[7:], f"DEFAULT of column '{name}'")
        elif kw.startswith("CODEC"):
            cm = re.fullmatch(r"CODEC\s*\(([A-Za-z0-9_(), ]*)\)", piece.strip(), re.I)
            if not cm:
                raise bad(f"Invalid CODEC of column '{name}'")
            codec = cm.group(1)
        else:
            raise bad(f"Unsupported column option '{kw}' in column '{name}'")
    col = Column(name=name, type=normalize_type(type_text), jsonpath=jsonpath, default_value=default, codec=codec)
    if jsonpath is not None and jsonpath.strip() == "$" and col.type not in WHOLE_ROW_TYPES:
        raise bad(f"JSONPath '$' (the whole row) needs a String column, not {col.type} (column '{name}')")
    return col


def parse_schema(text: str) -> list[Column]:
    cols = [parse_column(c) for c in split_top(text.replace("\n", " "))]
    if not cols:
        raise bad("Invalid schema: no columns")
    seen: set[str] = set()
    for c in cols:
        if c.name in seen:
            raise bad(f"Invalid schema: duplicated column '{c.name}'")
        seen.add(c.name)
    return cols


def parse_engine(params: dict[str, str], columns: list[Column]) -> EngineSpec:
    engine = params.get("engine") or "MergeTree"
    match = [e for e in ENGINES if e.lower() == engine.lower()]
    if not match:
        raise bad(f"Engine {engine} is not supported, supported engines are: {', '.join(ENGINES)}")
    spec = EngineSpec(engine=match[0])
    names = {c.name for c in columns}
    for key in ("sorting_key", "partition_key", "primary_key", "ttl"):
        v = params.get(f"engine_{key}")
        if v:
            setattr(spec, key, normalize_list(v, f"engine_{key}", names))
    for key in ("ver", "sign", "version"):
        v = params.get(f"engine_{key}")
        if v:
            v = v.strip().strip("`")
            if v not in names:
                raise bad(f"engine_{key}: unknown column '{v}'")
            setattr(spec, key, v)
    sc = params.get("engine_summing_columns")
    if sc:
        cols = [c.strip().strip("`") for c in sc.split(",") if c.strip()]
        for c in cols:
            if c not in names:
                raise bad(f"engine_summing_columns: unknown column '{c}'")
        spec.summing_columns = ",".join(cols)
    if spec.engine == "CollapsingMergeTree" and not spec.sign:
        raise bad("CollapsingMergeTree needs engine_sign")
    if spec.engine == "VersionedCollapsingMergeTree" and not (spec.sign and spec.version):
        raise bad("VersionedCollapsingMergeTree needs engine_sign and engine_version")
    return spec


def nullable_type(t: str) -> str:
    """The staging type for ``t``: Nullable(t) where ClickHouse allows it."""
    if t.startswith(_NO_NULLABLE):
        return t
    return f"Nullable({t})"


def columns_from_doc(doc: list[dict[str, Any]]) -> list[Column]:
    return [
        Column(name=c["name"], type=c["type"], jsonpath=c.get("jsonpath"), default_value=c.get("default_value"),
               codec=c.get("codec"))
        for c in doc
    ]


def engine_from_doc(doc: dict[str, Any]) -> EngineSpec:
    return EngineSpec(**doc)
