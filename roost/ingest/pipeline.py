"""Row pipelines: how NDJSON or Parquet input becomes table rows and quarantine rows, in the engine.

One import builds a small chain of engine objects in the staging database and streams the input
into its head; nothing is parsed or held row by row in Python::

    input ──INSERT (LineAsString | Parquet)──▶ src (Null)
      src ──MV "prepare"──▶ rows (Null): each column's value, per-column ok flags, the raw line
        rows ──MV (WHERE ok)──────────────▶ the data source's table      (or a Memory stage)
        rows ──MV (WHERE NOT ok, not blank)─▶ its quarantine, with c__error, c__raw (or a stage)
        rows ──MV──▶ counts (Memory): good rows, bad rows, the first bad lines

NDJSON is read line by line (``LineAsString``), so every physical line is accounted for: a
malformed line can never swallow the next one, and the quarantine keeps the line exactly as sent.
Each line is parsed once, by ``JSONExtract`` into a named ``Tuple`` of all the JSONPaths. Values
are extracted as ``Nullable``; a NULL where the JSON holds a value is a bad value, a NULL where the
key is missing is a missing value; either sends the row to the quarantine unless the column is
Nullable (missing) or has a DEFAULT.

Without a deduplication token the chain writes straight into the data source, and a large NDJSON
body is split at line boundaries into lanes that stream in parallel on separate connections. With a
token (Events API segments, replayed after a crash) the rows land in Memory stages first, and each
stage goes to its table in one ``INSERT ... SELECT`` carrying the token, so that a replay of the same
segment is deduplicated by the table itself.

Every identifier Roost invents here starts with ``$``, which no data source column name can contain,
and every name that comes from a schema is validated and quoted; values of the data never reach SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roost.errors import BadRequest
from roost.ingest.schema import Column, nullable_type
from roost.sql.literals import string_literal

LINE = "`$line`"
REQ = "`$req`"
OK = "`$ok`"
BLANK = "`$blank`"
VALID = "`$valid`"
WS = "' \\t\\r'"  # whitespace around a line (SQL string literal)
NULL_STRING = "CAST(NULL, 'Nullable(String)')"


def q(name: str) -> str:
    """Quote an identifier from a schema or a JSONPath (no backticks, backslashes or control characters)."""
    if "`" in name or "\\" in name or any(ord(ch) < 32 for ch in name):
        raise BadRequest(f"Invalid name '{name}' in a JSONPath")
    return f"`{name}`"


def _base_type(t: str) -> str:
    """The type a column's value is extracted as: Nullable where ClickHouse allows it."""
    if t.startswith("LowCardinality(Nullable("):
        return f"Nullable({t[len('LowCardinality(Nullable('):-2]})"
    if t.startswith("LowCardinality("):
        return f"Nullable({t[len('LowCardinality('):-1]})"
    if t.startswith("SimpleAggregateFunction("):
        inner = t[len("SimpleAggregateFunction("):-1].split(",", 1)[1].strip()
        return nullable_type(inner)
    return nullable_type(t)


def _is_nullable_extract(t: str) -> bool:
    return t.startswith("Nullable(")


def _json_kind(t: str) -> tuple[str, ...]:
    """JSON types that may legitimately give an empty value for a non-Nullable composite column."""
    if t.startswith("Array("):
        return ("Null", "Array")
    if t.startswith("Map("):
        return ("Null", "Object")
    return ()


@dataclass
class _Leaf:
    index: int          # column index
    extract: str        # extraction type


@dataclass
class RowPlan:
    """The SQL of one import's chain, generated from the data source's parsed columns."""

    source: list[tuple[str, str]]                     # src columns: (quoted name, type)
    input_format: str                                 # ClickHouse format of the input bytes
    input_settings: dict[str, Any]
    helpers: list[tuple[str, str]]                    # WITH expr AS alias (prepare MV only)
    rows: list[tuple[str, str, str]]                  # rows columns: (quoted alias, type, expr)
    targets: list[tuple[str, str]]                    # (quoted target column, rows alias)
    quarantine: list[tuple[str, str]]                 # (quoted quarantine column, expr over rows)
    has_lines: bool = True                            # rows carry the raw line (NDJSON)
    checked: list[str] = field(default_factory=list)  # columns that can send a row to quarantine
    tagged: bool = False                              # each line carries the number of its request

    def prepare_select(self, src: str) -> str:
        with_ = ("WITH " + ", ".join(f"{e} AS {a}" for a, e in self.helpers) + " ") if self.helpers else ""
        outs = ", ".join(f"{e} AS {a}" for a, _, e in self.rows)
        return f"{with_}SELECT {outs} FROM {src}"

    def rows_ddl(self) -> str:
        return ", ".join(f"{a} {t}" for a, t, _ in self.rows)

    def target_select(self, rows: str) -> str:
        return f"SELECT {', '.join(f'{a} AS {c}' for c, a in self.targets)} FROM {rows} WHERE {OK}"

    def quarantine_select(self, rows: str) -> str:
        """The quarantine rows (``c__import_id`` is set when they move from their stage)."""
        cols = [f"{e} AS {c}" for c, e in self.quarantine]
        return f"SELECT {', '.join(cols)} FROM {rows} WHERE NOT {OK} AND NOT {BLANK}"

    def signature(self) -> str:
        """Identifies the generated SQL: pipelines with the same signature are interchangeable."""
        return "\n".join([repr(self.source), self.input_format, self.prepare_select("src"), self.rows_ddl(),
                          self.target_select("rows"), self.quarantine_select("rows"), self.counts_select("rows")])

    def counts_select(self, rows: str) -> str:
        bad = f"NOT {OK} AND NOT {BLANK}"
        sample = f"groupArrayIf(10)({LINE}, {bad})" if self.has_lines else "CAST([], 'Array(String)')"
        req = REQ if self.tagged else "toUInt32(0)"
        return (f"SELECT {req} AS req, countIf({OK}) AS good, countIf({bad}) AS bad, {sample} AS samples "
                f"FROM {rows} GROUP BY req")

    def errors_of_lines_sql(self, n: int) -> str:
        """c__error for the lines given as parameters ``{l0:String}`` .. ``{l<n-1>:String}``."""
        assert self.has_lines
        errors = dict(self.quarantine)["`c__error`"]
        lines = ", ".join(f"{{l{i}:String}}" for i in range(n))
        inner = self.prepare_select(f"(SELECT arrayJoin([{lines}]) AS {LINE})")
        return f"SELECT {LINE}, {errors} FROM ({inner})"


# --- NDJSON -------------------------------------------------------------------------------------
def _path_args(keys: list[str]) -> str:
    return "".join(f", {string_literal(k)}" for k in keys)


def _tuple_type(tree: dict[str, Any]) -> str:
    parts = []
    for key, node in tree.items():
        t = node.extract if isinstance(node, _Leaf) else _tuple_type(node)
        parts.append(f"{q(key)} {t}")
    return f"Tuple({', '.join(parts)})"


def plan_ndjson(columns: list[Column], *, tagged: bool = False) -> RowPlan:
    """Plan the import of NDJSON lines into ``columns`` (JSONPaths, or the column name when absent).

    ``tagged``: the input is TabSeparated ``request number, line`` (see ``tag_lines``), so that one
    import of many requests can count each request's good and bad rows.
    """
    tree: dict[str, Any] = {}
    elem: dict[int, str] = {}          # column index -> expression of its extracted value
    paths: dict[int, list[str]] = {}
    leaves: dict[tuple[str, ...], _Leaf] = {}
    whole_line: set[int] = set()
    skipped: set[int] = set()
    for i, c in enumerate(columns):
        if c.type.startswith("AggregateFunction("):
            skipped.add(i)  # filled by materialized views, never from JSON: the column default
            continue
        parsed = c.path_keys()
        if parsed is None:
            if c.type not in ("String", "Nullable(String)", "LowCardinality(String)"):
                raise BadRequest(f"JSONPath '$' (the whole row) needs a String column, not {c.type} ('{c.name}')")
            whole_line.add(i)
            continue
        keys, _ = parsed
        for k in keys:
            q(k)
        paths[i] = keys
        extract = _base_type(c.type)
        same = leaves.get(tuple(keys))
        if same is not None and same.extract == extract:
            elem[i] = elem[same.index]
            continue
        # place the leaf in the tuple unless its path collides with another one
        node = tree
        collide = same is not None
        for k in keys[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if isinstance(nxt, _Leaf):
                collide = True
                break
            node = nxt
        if not collide and keys[-1] in node:
            collide = True
        if collide:
            elem[i] = f"JSONExtract({LINE}{_path_args(keys)}, {string_literal(extract)})"
        else:
            node[keys[-1]] = leaves[tuple(keys)] = _Leaf(i, extract)
            elem[i] = "`$t`"
            for k in keys:
                elem[i] = f"tupleElement({elem[i]}, {string_literal(k)})"
    # drop empty tuple branches created by colliding paths
    helpers: list[tuple[str, str]] = []
    if leaves:
        helpers.append(("`$t`", f"JSONExtract({LINE}, {string_literal(_tuple_type(_prune(tree)))})"))
    obj = f"(startsWith({LINE}, '{{') OR startsWith(trim(LEADING {WS} FROM {LINE}), '{{'))"
    helpers.append(("`$obj`", obj))
    for i in sorted(elem):
        helpers.append((f"`$e{i}`", elem[i]))

    rows: list[tuple[str, str, str]] = [(LINE, "String", LINE)]
    if tagged:
        rows.append((REQ, "UInt32", REQ))
    targets: list[tuple[str, str]] = []
    oks: list[tuple[int, str]] = []
    any_value: list[str] = []
    for i, c in enumerate(columns):
        if i in skipped:
            continue
        alias = f"`$v{i}`"
        if i in whole_line:
            rows.append((alias, c.type, LINE))
            targets.append((q(c.name), alias))
            continue
        e = f"`$e{i}`"
        extract = _base_type(c.type)
        keys = paths[i]
        json_type = f"JSONType({LINE}{_path_args(keys)})"
        if _is_nullable_extract(extract):
            any_value.append(f"isNotNull({e})")
            if c.nullable:
                value, ok = e, f"isNotNull({e}) OR {json_type} = 'Null'"
            elif c.default_value is not None:
                value, ok = f"ifNull({e}, {c.default_value})", f"isNotNull({e}) OR {json_type} = 'Null'"
            else:
                value, ok = f"assumeNotNull({e})", f"isNotNull({e})"
        else:
            kinds = _json_kind(extract)
            value = e
            ok = ""
            if kinds:
                any_value.append(f"notEmpty({e})")
                ok = f"notEmpty({e}) OR {json_type} IN ({', '.join(string_literal(k) for k in kinds)})"
        rows.append((alias, c.type, value))
        targets.append((q(c.name), alias))
        if ok:
            rows.append((f"`$ok{i}`", "UInt8", ok))
            oks.append((i, f"`$ok{i}`"))

    valid_parts = [*any_value, f"isValidJSON({LINE})"]
    valid = f"`$obj` AND ({' OR '.join(valid_parts)})"
    blank = f"NOT `$obj` AND empty(trim(BOTH {WS} FROM {LINE}))"
    ok_all = " AND ".join([f"NOT {BLANK}", VALID, *(a for _, a in oks)])
    rows += [(VALID, "UInt8", valid), (BLANK, "UInt8", blank), (OK, "UInt8", ok_all)]

    quarantine: list[tuple[str, str]] = []
    for i, c in enumerate(columns):
        if i in whole_line:
            quarantine.append((q(c.name), LINE))
        elif i in skipped:
            quarantine.append((q(c.name), NULL_STRING))
        else:
            quarantine.append((q(c.name), f"JSONExtract({LINE}{_path_args(paths[i])}, 'Nullable(String)')"))
    names = [f"if({a}, '', {string_literal(columns[i].name)})" for i, a in oks]
    msgs = [f"if({a}, '', {_message(columns[i], paths[i])})" for i, a in oks]
    not_json = (f"[if(startsWith(trim(LEADING {WS} FROM {LINE}), '{{'), 'the row is not valid JSON', "
                "'the row is not a JSON object')]")
    quarantine.append(("`c__error_column`", f"if({VALID}, {_nonempty(names)}, CAST([], 'Array(String)'))"))
    quarantine.append(("`c__error`", f"if({VALID}, {_nonempty(msgs)}, {not_json})"))
    quarantine.append(("`c__raw`", LINE))
    return RowPlan(
        source=[(REQ, "UInt32"), (LINE, "String")] if tagged else [(LINE, "String")],
        input_format="TabSeparated" if tagged else "LineAsString",
        input_settings={},
        helpers=helpers,
        rows=rows,
        targets=targets,
        quarantine=quarantine,
        has_lines=True,
        checked=[columns[i].name for i, _ in oks],
        tagged=tagged,
    )


def tag_lines(payloads: list[bytes]) -> bytes:
    """The input of a tagged import: ``<i>\\t<line>`` for every line of payload ``i``, TSV-escaped."""
    out: list[bytes] = []
    for i, payload in enumerate(payloads):
        tag = b"%d\t" % i
        body = payload.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\r", b"\\r")
        out.extend(tag + line + b"\n" for line in body.split(b"\n") if line)
    return b"".join(out)


def _prune(tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, _Leaf):
            out[k] = v
        else:
            sub = _prune(v)
            if sub:
                out[k] = sub
    return out


def _nonempty(items: list[str]) -> str:
    if not items:
        return "CAST([], 'Array(String)')"
    return f"arrayFilter(x -> x != '', [{', '.join(items)}])"


def _message(c: Column, keys: list[str]) -> str:
    """``value 'x' on column 'c' is not T`` or ``column 'c' (T) is missing``, as Tinybird words them."""
    args = _path_args(keys)
    value = f"ifNull(JSONExtract({LINE}{args}, 'Nullable(String)'), 'null')"
    tail = string_literal(f"' on column '{c.name}' is not {c.type}")
    bad = f"concat('value ''', {value}, {tail})"
    missing = string_literal(f"column '{c.name}' ({c.type}) is missing and it is not Nullable")
    return f"if(JSONHas({LINE}{args}), {bad}, {missing})"


# --- Parquet ------------------------------------------------------------------------------------
def plan_parquet(columns: list[Column]) -> RowPlan:
    """Plan the import of Parquet rows: top-level columns by name (or the JSONPath's first key)."""
    uses: dict[str, int] = {}
    parsed_paths: list[tuple[Column, list[str]] | None] = []
    for c in columns:
        if c.type.startswith("AggregateFunction("):
            parsed_paths.append(None)
            continue
        parsed = c.path_keys()
        if parsed is None:
            raise BadRequest(f"JSONPath '$' (the whole row) is not supported for Parquet (column '{c.name}')")
        keys = parsed[0]
        parsed_paths.append((c, keys))
        uses[keys[0]] = uses.get(keys[0], 0) + 1
    source: dict[str, str] = {}
    rows: list[tuple[str, str, str]] = []
    targets: list[tuple[str, str]] = []
    oks: list[tuple[int, str]] = []
    for i, pp in enumerate(parsed_paths):
        if pp is None:
            continue
        c, keys = pp
        top = keys[0]
        direct = len(keys) == 1 and uses[top] == 1
        if direct:
            source[top] = _base_type(c.type) if not c.type.startswith(("Array(", "Map(", "Tuple(")) else c.type
            e = q(top)
        else:
            source[top] = "Nullable(String)"
            e = f"JSONExtract(ifNull({q(top)}, ''){_path_args(keys[1:])}, {string_literal(_base_type(c.type))})"
        alias = f"`$v{i}`"
        may_be_null = source[top].startswith("Nullable(") or not direct
        if may_be_null and not c.nullable and not c.type.startswith(("Array(", "Map(", "Tuple(")):
            if c.default_value is not None:
                rows.append((alias, c.type, f"ifNull({e}, {c.default_value})"))
            else:
                rows.append((alias, c.type, f"assumeNotNull({e})"))
                rows.append((f"`$ok{i}`", "UInt8", f"isNotNull({e})"))
                oks.append((i, f"`$ok{i}`"))
        else:
            rows.append((alias, c.type, e))
        targets.append((q(c.name), alias))
    src_cols = [(q(k), t) for k, t in source.items()]
    # the source values travel along as strings, for the quarantine
    for j, (k, _) in enumerate(src_cols):
        rows.append((f"`$s{j}`", "Nullable(String)", f"toString({k})"))
    ok_all = " AND ".join([VALID, *(a for _, a in oks)])
    rows += [(VALID, "UInt8", "1"), (BLANK, "UInt8", "0"), (OK, "UInt8", ok_all)]
    key_index = {k: j for j, (k, _) in enumerate(src_cols)}
    quarantine: list[tuple[str, str]] = []
    for pp, c in zip(parsed_paths, columns, strict=True):
        quarantine.append((q(c.name), NULL_STRING if pp is None else f"`$s{key_index[q(pp[1][0])]}`"))
    names = [f"if({a}, '', {string_literal(columns[i].name)})" for i, a in oks]
    msgs = [f"if({a}, '', {string_literal(_missing_msg(columns[i]))})" for i, a in oks]
    raw = "toJSONString(map(" + ", ".join(
        f"{string_literal(k.strip('`'))}, `$s{j}`" for j, (k, _) in enumerate(src_cols)) + "))"
    quarantine.append(("`c__error_column`", _nonempty(names)))
    quarantine.append(("`c__error`", _nonempty(msgs)))
    quarantine.append(("`c__raw`", raw))
    return RowPlan(
        source=src_cols,
        input_format="Parquet",
        input_settings={"input_format_parquet_allow_missing_columns": 1, "input_format_null_as_default": 0},
        helpers=[],
        rows=rows,
        targets=targets,
        quarantine=quarantine,
        has_lines=False,
        checked=[columns[i].name for i, _ in oks],
    )


def _missing_msg(c: Column) -> str:
    return f"value for column '{c.name}' is missing or is not {c.type}"
