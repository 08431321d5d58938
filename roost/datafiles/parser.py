"""Parse Tinybird Classic datafiles (reference §9) into ``roost.datafiles.model`` objects.

The format is line based. A key starts at column 0 and its value follows on the same line
(``ENGINE "MergeTree"``), or the key ends with ``>`` and its value is the indented block below it::

    SCHEMA >
        `timestamp` DateTime `json:$.timestamp`,
        `org_id` String `json:$.org_id`

A block ends at the next non-blank line that starts at column 0; it is dedented, and its text is
kept verbatim (``%`` template lines and ``{% ... %}`` in SQL included). Blank lines separate keys;
lines starting with ``#`` at column 0 are comments. Keys are case-insensitive. A value written in
double or single quotes is unquoted for the keys that take names (ENGINE*, TOKEN, TAGS, SCOPE,
RESOURCE). Every error is a ``DatafileError`` naming the file and the line.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from roost.datafiles.model import (
    ENGINE_KEYS,
    FILTER_SCOPES,
    IDENT_RE,
    NODE_TYPES,
    RESOURCE_SCOPES,
    SCOPE_TYPES,
    DatafileError,
    DatasourceFile,
    Node,
    PipeFile,
    TokenFile,
    TokenRef,
    TokenScope,
)

EXTENSIONS = (".datasource", ".pipe", ".token")
_KEY_RE = re.compile(r"^(\S+)(?:[ \t]+(.*))?$")
_TOKEN_RE = re.compile(r"""^(?:"([^"]+)"|'([^']+)'|(\S+))\s+(\S+)$""")
# Keys kept as they are (not acted on by Roost); their value is stored in ``extra``.
_DS_EXTRA_PREFIXES = ("KAFKA_", "IMPORT_")
_DS_EXTRA_KEYS = ("VERSION", "FORWARD_QUERY", "SHARED_WITH")
_NODE_EXTRA_PREFIXES = ("EXPORT_",)
_NODE_EXTRA_KEYS = ("TARGET_DATASOURCE", "COPY_SCHEDULE", "COPY_MODE")


@dataclass
class Entry:
    """One ``KEY value`` or ``KEY >`` block of a datafile."""

    key: str  # upper case
    value: str
    line: int  # line of the key
    block: bool  # written as ``KEY >``
    value_line: int  # line of the first line of the value
    body_line: int = 0  # with ``KEY > first line``: the line of the value's second line

    def line_of(self, i: int) -> int:
        """The file line of line ``i`` of the value."""
        if self.value_line == self.line and self.block:
            return self.line if i == 0 else self.body_line + i - 1
        return self.value_line + i


def unquote(value: str) -> str:
    v = value.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        return v[1:-1]
    return v


def lex(text: str, file: str) -> list[Entry]:
    """Split a datafile into entries. Raises DatafileError on indentation errors."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[Entry] = []
    i = 0
    n = len(lines)
    while i < n:
        raw = lines[i]
        lineno = i + 1
        if not raw.strip() or raw.startswith("#"):
            i += 1
            continue
        if raw[0] in " \t":
            raise DatafileError(file, lineno, "unexpected indented line: only the lines of a 'KEY >' block are "
                                "indented (is a key missing its '>'?)")
        m = _KEY_RE.match(raw.rstrip())
        assert m is not None
        key, rest = m.group(1).upper(), (m.group(2) or "").strip()
        if key.endswith(">") and len(key) > 1:  # "SQL>" written without a space
            key, rest = key[:-1], ">" + (" " + rest if rest else "")
        if rest.startswith(">"):
            first = rest[1:].strip()
            j = i + 1
            block: list[str] = []
            while j < n and (not lines[j].strip() or lines[j][0] in " \t"):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            body = textwrap.dedent("\n".join(block)).strip("\n")
            body = "\n".join(ln.rstrip() for ln in body.split("\n")) if body else ""
            skipped = 0
            while skipped < len(block) and not block[skipped].strip():
                skipped += 1
            body_line = lineno + 1 + skipped
            if first:
                value = first + ("\n" + body if body else "")
                value_line = lineno
            else:
                value = body
                value_line = body_line
            if not value:
                raise DatafileError(file, lineno, f"{key} > needs a value: write it on the next lines, indented")
            out.append(Entry(key, value, lineno, True, value_line, body_line))
            i = j
            continue
        out.append(Entry(key, rest, lineno, False, lineno))
        i += 1
    return out


_SCHEMA_STRAY = re.compile(r"^(ENGINE(_[A-Z_]+)?|TOKEN|INDEXES|DESCRIPTION|TAGS|SCHEMA)(\s|$)")
_SQL_STRAY = re.compile(r"^(TYPE\s+(endpoint|materialized|copy|sink)|NODE\s+\w+|DATASOURCE\s+\w+|SQL\s*>)\s*$", re.I)


def _check_stray_keys(e: Entry, file: str, pattern: re.Pattern[str]) -> None:
    """An indented key line is read as part of the block above it: say so instead of failing later."""
    if not e.block:
        return
    for i, ln in enumerate(e.value.split("\n")):
        text = ln.strip()
        if pattern.match(text) and text.split()[0].isupper():
            raise DatafileError(file, e.line_of(i), f"'{text}' is indented, so it is read as part of {e.key} >; "
                                "keys start at column 0")


def _single(e: Entry, file: str, *, what: str = "a value") -> str:
    if e.block and "\n" in e.value:
        raise DatafileError(file, e.line, f"{e.key} takes {what} on the same line, not a block")
    if not e.value.strip():
        raise DatafileError(file, e.line, f"{e.key} needs {what}")
    return e.value.strip()


def _check_name(name: str, what: str, file: str) -> None:
    if not IDENT_RE.match(name):
        raise DatafileError(file, 1, f"invalid {what} name '{name}' (from the file name): use letters, digits and "
                            "underscores, starting with a letter or underscore")


def _token_ref(e: Entry, file: str, allowed: tuple[str, ...]) -> TokenRef:
    m = _TOKEN_RE.match(_single(e, file, what='a name and a permission, like TOKEN "name" READ'))
    if not m:
        raise DatafileError(file, e.line, 'TOKEN needs a name and a permission, like TOKEN "name" READ')
    name = m.group(1) or m.group(2) or m.group(3)
    perm = m.group(4).upper()
    if perm not in allowed:
        raise DatafileError(file, e.line, f"TOKEN permission must be {' or '.join(allowed)}, not '{m.group(4)}'")
    return TokenRef(name, perm)


def _tags(e: Entry, file: str) -> list[str]:
    return [t.strip() for t in unquote(_single(e, file)).split(",") if t.strip()]


def _engine_key(e: Entry, file: str) -> str:
    key = e.key.lower()
    if key not in ENGINE_KEYS:
        known = ", ".join(k.upper() for k in ENGINE_KEYS)
        raise DatafileError(file, e.line, f"unknown engine key {e.key}; known: {known}")
    return key


def split_columns(block: str, file: str, first_line: int) -> list[str]:
    """Split a SCHEMA block on commas outside quotes and parentheses; one string per column."""
    cols: list[str] = []
    buf: list[str] = []
    depth = 0
    quote: str | None = None
    line = first_line
    start_line = first_line
    quote_line = first_line
    has_content = False
    escaped = False
    for ch in block:
        if quote:
            buf.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch == "," and depth == 0:
            if not has_content:
                raise DatafileError(file, line, "empty column in SCHEMA (two commas in a row?)")
            cols.append(_column(buf, file, start_line))
            buf = []
            has_content = False
        else:
            if not has_content and not ch.isspace():
                has_content = True
                start_line = line
            if ch in "'\"`":
                quote = ch
                quote_line = line
                escaped = False
            elif ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
                if depth < 0:
                    raise DatafileError(file, line, "unbalanced ')' in SCHEMA")
            buf.append(ch)
        if ch == "\n":
            line += 1
    if quote:
        raise DatafileError(file, quote_line, f"unclosed {quote} in SCHEMA")
    if depth:
        raise DatafileError(file, start_line, "unbalanced '(' in SCHEMA")
    if has_content:
        cols.append(_column(buf, file, start_line))
    elif cols:
        raise DatafileError(file, line - 1 if block.endswith("\n") else line, "SCHEMA ends with a comma")
    return cols


def _column(buf: list[str], file: str, line: int) -> str:
    text = " ".join(part.strip() for part in "".join(buf).strip().split("\n"))
    if not text:
        raise DatafileError(file, line, "empty column in SCHEMA (two commas in a row?)")
    if text.startswith("`"):
        end = text.find("`", 1)
        name, rest = (text[1:end], text[end + 1:]) if end > 0 else ("", "")
    else:
        bits = text.split(None, 1)
        name, rest = bits[0], (bits[1] if len(bits) > 1 else "")
    if not name or not IDENT_RE.match(name):
        raise DatafileError(file, line, f"invalid column name in SCHEMA: {text}")
    rest_wo_path = re.sub(r"`json:[^`]*`", "", rest).strip()
    if not rest_wo_path:
        raise DatafileError(file, line, f"column '{name}' has no type")
    return text


# --- .datasource ------------------------------------------------------------------------------
def parse_datasource(text: str, name: str, file: str | None = None) -> DatasourceFile:
    file = file or f"{name}.datasource"
    _check_name(name, "data source", file)
    ds = DatasourceFile(name=name)
    seen: dict[str, int] = {}
    for e in lex(text, file):
        key = e.key
        once = key in ("DESCRIPTION", "SCHEMA", "INDEXES", "TAGS") or key.startswith("ENGINE")
        if once and key in seen:
            raise DatafileError(file, e.line, f"{key} is given twice (first at line {seen[key]})")
        seen.setdefault(key, e.line)
        if key == "DESCRIPTION":
            ds.description = e.value.strip()
        elif key == "SCHEMA":
            _check_stray_keys(e, file, _SCHEMA_STRAY)
            ds.schema = split_columns(e.value, file, e.value_line)
            if not ds.schema:
                raise DatafileError(file, e.line, "SCHEMA has no columns")
        elif key.startswith("ENGINE"):
            ds.engine[_engine_key(e, file)] = unquote(_single(e, file))
        elif key == "TOKEN":
            ds.tokens.append(_token_ref(e, file, ("READ", "APPEND")))
        elif key == "INDEXES":
            ds.indexes = [ln.strip().rstrip(",").strip() for ln in e.value.split("\n") if ln.strip()]
        elif key == "TAGS":
            ds.tags = _tags(e, file)
        elif key in _DS_EXTRA_KEYS or key.startswith(_DS_EXTRA_PREFIXES):
            ds.extra[key] = e.value
        elif key == "INCLUDE":
            raise DatafileError(file, e.line, "INCLUDE is not supported by Roost: inline the included file")
        elif key in ("NODE", "SQL", "TYPE", "SCOPE"):
            raise DatafileError(file, e.line, f"{key} belongs in a .{'token' if key == 'SCOPE' else 'pipe'} file, "
                                "not a .datasource file")
        else:
            raise DatafileError(file, e.line, f"unknown key {key} in a .datasource file")
    if not ds.schema:
        raise DatafileError(file, 1, "a .datasource file needs a SCHEMA > block")
    if ds.engine and "engine" not in ds.engine:
        line = min(v for k, v in seen.items() if k.startswith("ENGINE"))
        raise DatafileError(file, line, 'ENGINE_* keys need an ENGINE line, like ENGINE "MergeTree"')
    return ds


# --- .pipe ------------------------------------------------------------------------------------
def parse_pipe(text: str, name: str, file: str | None = None) -> PipeFile:
    file = file or f"{name}.pipe"
    _check_name(name, "pipe", file)
    pipe = PipeFile(name=name)
    node: Node | None = None
    node_line = 0
    node_seen: dict[str, int] = {}
    pipe_seen: dict[str, int] = {}
    endpoint_line = 0
    lines_of: dict[str, int] = {}

    def finish(n: Node | None, line: int) -> None:
        if n is None:
            return
        if not n.sql.strip():
            raise DatafileError(file, line, f"node '{n.name}' has no SQL > block")
        if n.datasource and n.type is None:
            n.type = "materialized"
        if n.type == "materialized" and not n.datasource:
            raise DatafileError(file, line, f"materialized node '{n.name}' needs DATASOURCE <target data source>")
        if n.datasource and n.type != "materialized":
            raise DatafileError(file, line, f"node '{n.name}': DATASOURCE is only for TYPE materialized nodes")
        if n.engine and n.type != "materialized":
            raise DatafileError(file, line, f"node '{n.name}': ENGINE keys are only for materialized nodes")

    for e in lex(text, file):
        key = e.key
        if key == "NODE":
            finish(node, node_line)
            nname = unquote(_single(e, file, what="a node name"))
            if not IDENT_RE.match(nname):
                raise DatafileError(file, e.line, f"invalid node name '{nname}'")
            if nname == name:
                raise DatafileError(file, e.line, f"node '{nname}' has the same name as its pipe")
            if nname in lines_of:
                raise DatafileError(file, e.line, f"node '{nname}' is defined twice (first at line {lines_of[nname]})")
            lines_of[nname] = e.line
            node = Node(name=nname)
            node_line = e.line
            node_seen = {}
            pipe.nodes.append(node)
            continue
        if key == "TOKEN":
            pipe.tokens.append(_token_ref(e, file, ("READ",)))
            continue
        if node is None:
            if key in ("DESCRIPTION", "TAGS", "VERSION"):
                if key in pipe_seen:
                    raise DatafileError(file, e.line, f"{key} is given twice (first at line {pipe_seen[key]})")
                pipe_seen[key] = e.line
                if key == "DESCRIPTION":
                    pipe.description = e.value.strip()
                elif key == "TAGS":
                    pipe.tags = _tags(e, file)
                else:
                    pipe.extra[key] = e.value
            elif key in ("SQL", "TYPE", "DATASOURCE") or key.startswith("ENGINE"):
                raise DatafileError(file, e.line, f"{key} must follow a NODE <name> line")
            elif key == "INCLUDE":
                raise DatafileError(file, e.line, "INCLUDE is not supported by Roost: inline the included file")
            elif key == "SCHEMA":
                raise DatafileError(file, e.line, "SCHEMA belongs in a .datasource file, not a .pipe file")
            else:
                raise DatafileError(file, e.line, f"unknown key {key} in a .pipe file")
            continue
        if key in node_seen and not key.startswith(_NODE_EXTRA_PREFIXES):
            raise DatafileError(file, e.line, f"{key} is given twice in node '{node.name}' "
                                f"(first at line {node_seen[key]})")
        node_seen[key] = e.line
        if key == "SQL":
            _check_stray_keys(e, file, _SQL_STRAY)
            node.sql = e.value
        elif key == "DESCRIPTION":
            node.description = e.value.strip()
        elif key == "TYPE":
            t = unquote(_single(e, file, what="a node type")).lower()
            if t == "default":
                t = "standard"
            if t not in NODE_TYPES:
                raise DatafileError(file, e.line, f"unknown node TYPE '{t}': use endpoint, materialized, copy or sink")
            if t == "endpoint":
                if endpoint_line:
                    raise DatafileError(file, e.line,
                                        f"a pipe has one endpoint node; another is at line {endpoint_line}")
                endpoint_line = e.line
            node.type = t
        elif key == "DATASOURCE":
            target = unquote(_single(e, file, what="a data source name"))
            if not IDENT_RE.match(target):
                raise DatafileError(file, e.line, f"invalid DATASOURCE name '{target}'")
            node.datasource = target
        elif key.startswith("ENGINE"):
            node.engine[_engine_key(e, file)] = unquote(_single(e, file))
        elif key in _NODE_EXTRA_KEYS or key.startswith(_NODE_EXTRA_PREFIXES):
            node.extra[key] = e.value
        elif key in ("TAGS", "VERSION"):
            raise DatafileError(file, e.line, f"{key} belongs at the top of the pipe, before the first NODE")
        else:
            raise DatafileError(file, e.line, f"unknown key {key} in node '{node.name}'")
    finish(node, node_line)
    if not pipe.nodes:
        raise DatafileError(file, 1, "a .pipe file needs at least one NODE with an SQL > block")
    return pipe


# --- .token -----------------------------------------------------------------------------------
def _scope_types(value: str) -> list[str] | None:
    parts = [p.strip() for p in value.split(",")]
    if all(p in SCOPE_TYPES for p in parts):
        return parts
    return None


@dataclass
class _ScopeGroup:
    line: int
    types: list[str]
    resource: str | None = None
    filter: str | None = None
    full: bool = False  # written as one scope string, ``SCOPE DATASOURCES:READ:events:filter``
    resource_line: int = 0
    filter_line: int = 0


def parse_token(text: str, name: str, file: str | None = None) -> TokenFile:
    file = file or f"{name}.token"
    if not name.strip():
        raise DatafileError(file, 1, "a token needs a name (the file name)")
    tok = TokenFile(name=name)
    groups: list[_ScopeGroup] = []
    desc_line = 0
    for e in lex(text, file):
        key = e.key
        if key == "DESCRIPTION":
            if desc_line:
                raise DatafileError(file, e.line, f"DESCRIPTION is given twice (first at line {desc_line})")
            desc_line = e.line
            tok.description = e.value.strip()
        elif key == "SCOPE":
            value = unquote(_single(e, file, what="a scope, like SCOPE DATASOURCES:READ"))
            types = _scope_types(value)
            if types is not None:
                groups.append(_ScopeGroup(e.line, types))
            else:
                full = TokenScope.parse(value)
                if full.type not in SCOPE_TYPES:
                    raise DatafileError(file, e.line, f"unknown scope '{full.type}'; known: {', '.join(SCOPE_TYPES)}")
                groups.append(_ScopeGroup(e.line, [full.type], full.resource, full.filter, full=True))
        elif key in ("RESOURCE", "FILTER"):
            if not groups:
                raise DatafileError(file, e.line, f"{key} must follow a SCOPE line")
            g = groups[-1]
            given = g.resource if key == "RESOURCE" else g.filter
            if g.full and given is not None:
                raise DatafileError(file, e.line, f"the SCOPE at line {g.line} already names its {key.lower()}")
            seen_at = g.resource_line if key == "RESOURCE" else g.filter_line
            if seen_at:
                raise DatafileError(file, e.line, f"{key} is given twice for the SCOPE at line {g.line}")
            if key == "RESOURCE":
                g.resource_line = e.line
                g.resource = unquote(_single(e, file, what="a data source or pipe name"))
            else:
                g.filter_line = e.line
                g.filter = e.value.strip() or None
        elif key in ("SCHEMA", "NODE", "SQL"):
            raise DatafileError(file, e.line, f"{key} belongs in a .datasource or .pipe file, not a .token file")
        else:
            raise DatafileError(file, e.line, f"unknown key {key} in a .token file (use DESCRIPTION, SCOPE, "
                                "RESOURCE, FILTER)")
    for g in groups:
        for t in g.types:
            if t in RESOURCE_SCOPES and not g.resource:
                raise DatafileError(file, g.line, f"scope {t} needs a RESOURCE line with a data source or pipe name")
            if t not in RESOURCE_SCOPES and g.resource:
                raise DatafileError(file, g.resource_line or g.line, f"scope {t} does not take a RESOURCE")
            if g.filter and t not in FILTER_SCOPES:
                raise DatafileError(file, g.filter_line or g.line, f"a FILTER only applies to READ scopes, not {t}")
            scope = TokenScope(t, g.resource, g.filter)
            if scope not in tok.scopes:
                tok.scopes.append(scope)
    if not tok.scopes:
        raise DatafileError(file, 1, "a .token file needs at least one SCOPE")
    return tok


# --- files ------------------------------------------------------------------------------------
def parse_file(path: str | Path) -> DatasourceFile | PipeFile | TokenFile:
    """Parse one datafile, by extension. Unreadable files and unknown extensions are DatafileErrors."""
    p = Path(path)
    file = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatafileError(file, 0, "no such file") from None
    except UnicodeDecodeError as e:
        raise DatafileError(file, 1, f"not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise DatafileError(file, 0, e.strerror or str(e)) from None
    return parse_text(text, p.name, file)


def parse_text(text: str, filename: str, file: str | None = None) -> DatasourceFile | PipeFile | TokenFile:
    """Parse datafile text; ``filename`` (with its extension) gives the kind and the resource name."""
    file = file or filename
    base = Path(filename).name
    for ext in EXTENSIONS:
        if base.endswith(ext):
            name = base[: -len(ext)]
            if ext == ".datasource":
                return parse_datasource(text, name, file)
            if ext == ".pipe":
                return parse_pipe(text, name, file)
            return parse_token(text, name, file)
    raise DatafileError(file, 0, "not a datafile: the name must end in .datasource, .pipe or .token")
