"""The data model of Tinybird Classic datafiles: plain dataclasses, compared by value.

A ``.datasource`` file is a ``DatasourceFile``, a ``.pipe`` file a ``PipeFile`` of ``Node``s, a
``.token`` file a ``TokenFile`` of ``TokenScope``s. The resource name is the file name without its
extension. ``parse_*`` in ``roost.datafiles.parser`` builds them; ``render_*`` in
``roost.datafiles.render`` writes them back, so that ``parse(render(x)) == x``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Scope types that a token may carry (reference §1.3), the ones that need a resource and the ones
# that may carry a SQL filter.
SCOPE_TYPES = (
    "ADMIN",
    "TOKENS",
    "DATASOURCES:CREATE",
    "DATASOURCES:APPEND",
    "DATASOURCES:READ",
    "DATASOURCES:DROP",
    "PIPES:CREATE",
    "PIPES:READ",
    "PIPES:DROP",
)
RESOURCE_SCOPES = ("DATASOURCES:APPEND", "DATASOURCES:READ", "DATASOURCES:DROP", "PIPES:READ", "PIPES:DROP")
FILTER_SCOPES = ("DATASOURCES:READ", "PIPES:READ")

# ENGINE keys, in the order they are written back.
ENGINE_KEYS = (
    "engine",
    "engine_sorting_key",
    "engine_partition_key",
    "engine_primary_key",
    "engine_sampling_key",
    "engine_ttl",
    "engine_ver",
    "engine_sign",
    "engine_version",
    "engine_is_deleted",
    "engine_summing_columns",
    "engine_settings",
)
NODE_TYPES = ("standard", "endpoint", "materialized", "copy", "sink")

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DatafileError(Exception):
    """A datafile that cannot be read. ``str()`` is ``<file>:<line>: <message>``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line
        self.message = message


@dataclass
class TokenRef:
    """``TOKEN "name" READ|APPEND`` in a .datasource, ``TOKEN "name" READ`` in a .pipe."""

    name: str
    permission: str  # READ or APPEND


@dataclass
class DatasourceFile:
    name: str
    description: str | None = None
    schema: list[str] = field(default_factory=list)  # one column definition each, as written
    engine: dict[str, str] = field(default_factory=dict)  # "engine", "engine_sorting_key", ...
    tokens: list[TokenRef] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    # Keys Roost keeps but does not act on: VERSION, KAFKA_*, IMPORT_*, FORWARD_QUERY, SHARED_WITH.
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def has_jsonpaths(self) -> bool:
        return any(column_jsonpath(c) is not None for c in self.schema)

    def column_names(self) -> list[str]:
        return [column_name(c) for c in self.schema]


@dataclass
class Node:
    name: str
    sql: str = ""
    description: str | None = None
    type: str | None = None  # endpoint | materialized | copy | sink | standard; None = a plain node
    datasource: str | None = None  # target of a materialized node
    engine: dict[str, str] = field(default_factory=dict)  # ENGINE* of an auto-created MV target
    # Other node keys, as written: TARGET_DATASOURCE, COPY_SCHEDULE, COPY_MODE, EXPORT_*.
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class PipeFile:
    name: str
    description: str | None = None
    nodes: list[Node] = field(default_factory=list)
    tokens: list[TokenRef] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # VERSION

    @property
    def endpoint_node(self) -> Node | None:
        for n in self.nodes:
            if n.type == "endpoint":
                return n
        return None


@dataclass(frozen=True)
class TokenScope:
    type: str
    resource: str | None = None
    filter: str | None = None

    def to_string(self) -> str:
        """The scope string of the Tokens API: ``TYPE[:resource[:filter]]``."""
        out = self.type
        if self.resource is not None:
            out += ":" + self.resource
            if self.filter:
                out += ":" + self.filter
        return out

    @classmethod
    def parse(cls, text: str) -> TokenScope:
        """``TYPE[:resource[:filter]]``; ``DATASOURCES:`` and ``PIPES:`` types take two segments."""
        parts = text.strip().split(":")
        if parts[0] in ("DATASOURCES", "PIPES") and len(parts) >= 2:
            type_, rest = f"{parts[0]}:{parts[1]}", parts[2:]
        else:
            type_, rest = parts[0], parts[1:]
        resource = rest[0].strip() if rest else None
        flt = ":".join(rest[1:]).strip() if len(rest) > 1 else None
        return cls(type_, resource or None, flt or None)


@dataclass
class TokenFile:
    name: str
    description: str | None = None
    scopes: list[TokenScope] = field(default_factory=list)


Datafile = DatasourceFile | PipeFile | TokenFile


# --- column helpers ---------------------------------------------------------------------------
_JSONPATH_RE = re.compile(r"`json:([^`]*)`")


def column_name(column: str) -> str:
    c = column.strip()
    if c.startswith("`"):
        end = c.find("`", 1)
        return c[1:end] if end > 0 else c[1:]
    return c.split(None, 1)[0] if c else ""


def column_jsonpath(column: str) -> str | None:
    m = _JSONPATH_RE.search(column)
    return m.group(1).strip() if m else None
