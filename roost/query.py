"""Running a caller's SQL: resolve what the Principal may see, compile, execute with limits.

Every query any caller runs (``/v0/sql``, pipe endpoints, the UI) goes through ``QueryService``:
``compile`` turns SQL text into generated SQL whose every table reference is replaced by what the
caller may see (``roost.sql.compiler``), and ``execute`` runs it read-only with resource limits and
the same row filters again in ``additional_table_filters`` as a second net.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from roost.auth.principal import Principal, Scope
from roost.engine.base import EngineError, QueryResult
from roost.errors import DOC_QUERY, BadRequest, Forbidden, QueryLimitExceeded, RoostError
from roost.service_logs import SERVICE_DB, TABLES
from roost.sql.compiler import CompiledQuery, Relation, compile_select

if TYPE_CHECKING:
    from roost.runtime import Runtime

CONTENT_TYPES = {
    "JSON": "application/json",
    "JSONCompact": "application/json",
    "JSONEachRow": "application/x-ndjson",
    "CSV": "text/csv; charset=utf-8",
    "CSVWithNames": "text/csv; charset=utf-8",
    "TSV": "text/tab-separated-values; charset=utf-8",
    "TSVWithNames": "text/tab-separated-values; charset=utf-8",
    "Parquet": "application/vnd.apache.parquet",
}

# Engine errors whose messages only name schema objects (never row values): safe to show.
SAFE_ERRORS = frozenset(
    {
        "UNKNOWN_IDENTIFIER", "UNKNOWN_FUNCTION", "ILLEGAL_TYPE_OF_ARGUMENT", "NUMBER_OF_ARGUMENTS_DOESNT_MATCH",
        "SYNTAX_ERROR", "NOT_AN_AGGREGATE", "ILLEGAL_AGGREGATION", "UNKNOWN_TABLE", "AMBIGUOUS_COLUMN_NAME",
        "NO_COMMON_TYPE", "ILLEGAL_COLUMN", "TOO_MANY_ARGUMENTS_FOR_FUNCTION", "TOO_FEW_ARGUMENTS_FOR_FUNCTION",
        "UNKNOWN_AGGREGATE_FUNCTION", "ILLEGAL_PREWHERE", "UNSUPPORTED_METHOD", "NOT_IMPLEMENTED",
        "EMPTY_LIST_OF_COLUMNS_QUERIED", "UNKNOWN_TYPE", "ILLEGAL_FINAL", "INVALID_JOIN_ON_EXPRESSION",
        "ILLEGAL_DIVISION", "ARGUMENT_OUT_OF_BOUND", "BAD_ARGUMENTS", "TYPE_MISMATCH", "CANNOT_CONVERT_TYPE",
        "UNKNOWN_DATABASE", "READONLY", "QUERY_IS_PROHIBITED", "INCORRECT_QUERY", "UNEXPECTED_EXPRESSION",
        "ALIAS_REQUIRED", "MULTIPLE_EXPRESSIONS_FOR_ALIAS", "CYCLIC_ALIASES", "NOT_FOUND_COLUMN_IN_BLOCK",
        "THERE_IS_NO_COLUMN", "TOO_DEEP_RECURSION", "TOO_DEEP_SUBQUERIES", "TOO_DEEP_AST", "TOO_BIG_AST",
    }
)
# ... of those, the ones that can still quote a literal value computed from rows
VALUE_QUOTING = frozenset({"BAD_ARGUMENTS", "ARGUMENT_OUT_OF_BOUND", "TYPE_MISMATCH", "CANNOT_CONVERT_TYPE",
                           "ILLEGAL_DIVISION"})
LIMIT_ERRORS = {
    "TIMEOUT_EXCEEDED": ("max_execution_time", 408),
    "TOO_SLOW": ("max_execution_time", 408),
    "MEMORY_LIMIT_EXCEEDED": ("max_memory_usage", 400),
    "TOO_MANY_ROWS_OR_BYTES": ("max_result_bytes", 400),
    "TOO_MANY_ROWS": ("max_rows_to_read", 400),
    "TOO_MANY_BYTES": ("max_bytes_to_read", 400),
}


@dataclass(frozen=True)
class Executed:
    result: QueryResult
    format: str
    compiled: CompiledQuery

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES.get(self.format, "application/octet-stream")


class PrincipalResolver:
    """Maps names in user SQL to what one Principal may read."""

    def __init__(self, rt: Runtime, principal: Principal, extra: Mapping[str, Relation] | None = None,
                 in_pipe: bool = False) -> None:
        self.rt = rt
        self.p = principal
        self.extra = extra or {}
        # Inside a pipe's nodes (an endpoint the caller may call), data sources are readable whatever the
        # caller's DATASOURCES scopes say — as in Tinybird, PIPES:READ is enough — but the caller's
        # DATASOURCES:READ filters still apply to every data source the nodes read.
        self.in_pipe = in_pipe

    def resolve(self, name: str, database: str | None) -> Relation | None:
        if database is None and name in self.extra:
            return self.extra[name]
        if database is not None:
            if database == SERVICE_DB and name in TABLES and (self.in_pipe or self.p.may_read_service_datasources()):
                return Relation(name=f"{database}.{name}", kind="service", physical=f"{SERVICE_DB}.`{name}`")
            return None
        cat = self.rt.catalog
        ds = cat.get_datasource(name)
        if ds is not None:
            scope = self.p.datasource_read(ds["name"])
            if scope is None and not self.in_pipe:
                return None
            return Relation(name=name, kind="datasource", physical=self.rt.datasources.table(ds),
                            filter=(scope.filter or None) if scope else None)
        if name.endswith("_quarantine"):
            ds = cat.get_datasource(name[: -len("_quarantine")])
            if ds is not None:
                scope = self.p.datasource_read(ds["name"])
                if scope is None and not self.in_pipe:
                    return None
                if scope is not None and scope.filter:
                    raise Forbidden(f"Resource '{name}': the quarantine cannot be read with a filtered token",
                                    documentation=DOC_QUERY)
                return Relation(name=name, kind="quarantine", physical=self.rt.datasources.quarantine(ds))
        pipes = getattr(self.rt, "pipes", None)
        if pipes is not None:
            rel: Relation | None = pipes.relation(name, self.p, in_pipe=self.in_pipe)
            if rel is not None:
                return rel
        return None


class CompileCache:
    def __init__(self, maxsize: int = 20_000) -> None:
        self._d: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.maxsize = maxsize

    def get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._d[key] = value
            if len(self._d) > self.maxsize:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


class QueryService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.cache = CompileCache()
        self.generation = 0
        self._shapes = CompileCache(50_000)
        self._nonce = secrets.token_hex(4)
        rt.on_change(self._changed)

    def _changed(self) -> None:
        self.generation += 1
        self.cache.clear()
        self._shapes.clear()

    # --- caller shapes ----------------------------------------------------------------------------
    def shape(self, principal: Principal) -> tuple[Principal, dict[str, str]]:
        """Replace every literal of the caller's filters by a sentinel string.

        Callers whose filters differ only in their values (``user_id = 42`` vs ``user_id = 43``)
        get the same shaped Principal, so one compiled plan serves them all; ``finalize`` puts the
        validated literals back into the generated text.
        """
        if not any(s.filter for s in principal.scopes):
            return principal, {}
        key = principal.filter_key()
        hit = self._shapes.get(key)
        if hit is None:
            literals: dict[str, str] = {}
            scopes = []
            for sc in principal.scopes:
                if sc.filter:
                    scopes.append(Scope(sc.type, sc.resource, self._shape_filter(sc.filter, literals),
                                        sc.fixed_params))
                else:
                    scopes.append(sc)
            hit = (tuple(scopes), literals)
            self._shapes.put(key, hit)
        scopes_t, literals = hit
        shaped = Principal(token_id="shape", name=principal.name, kind=principal.kind, scopes=scopes_t,
                           rps_limit=principal.rps_limit)
        return shaped, literals

    def _shape_filter(self, text: str, literals: dict[str, str]) -> str:
        tree = sqlglot.parse_one(text, read="clickhouse")
        for lit in list(tree.find_all(exp.Literal)):
            sentinel = f"__roost_{self._nonce}_{len(literals)}"
            literals[f"'{sentinel}'"] = lit.sql("clickhouse")
            lit.replace(exp.Literal.string(sentinel))
        return tree.sql("clickhouse")

    def compile_shaped(self, sql: str, principal: Principal, *, extra: Mapping[str, Relation] | None = None,
                       in_pipe: bool = False) -> CompiledQuery:
        """Compile for an already shaped Principal (result may hold sentinels)."""
        key = (sql, principal.filter_key(), principal.readable_key(), self.generation, in_pipe)
        hit = self.cache.get(key) if not extra else None
        if hit is not None:
            return hit
        compiled = compile_select(sql, PrincipalResolver(self.rt, principal, extra, in_pipe))
        if not extra:
            self.cache.put(key, compiled)
        return compiled

    @staticmethod
    def finalize(compiled: CompiledQuery, literals: dict[str, str]) -> CompiledQuery:
        if not literals:
            return compiled
        sql = compiled.sql
        filters = dict(compiled.table_filters)
        for sentinel, lit in literals.items():
            sql = sql.replace(sentinel, lit)
            filters = {k: v.replace(sentinel, lit) for k, v in filters.items()}
        return CompiledQuery(sql=sql, format=compiled.format, relations=compiled.relations,
                             table_filters=filters, has_limit=compiled.has_limit)

    def compile(self, sql: str, principal: Principal, *, extra: Mapping[str, Relation] | None = None
                ) -> CompiledQuery:
        shaped, literals = self.shape(principal)
        return self.finalize(self.compile_shaped(sql, shaped, extra=extra), literals)

    def settings(self, compiled: CompiledQuery, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        s = self.rt.settings
        out: dict[str, Any] = {
            "allow_introspection_functions": 0,
            "readonly": 1,
            "max_execution_time": s.max_execution_time,
            "max_result_bytes": s.max_result_bytes,
            "result_overflow_mode": "throw",
            "max_memory_usage": s.max_memory_usage,
            "output_format_json_quote_64bit_integers": 0,
            "output_format_json_quote_denormals": 0,
            "exact_rows_before_limit": 1,
        }
        atf = {k.replace("`", ""): v for k, v in compiled.table_filters.items()}
        if atf:
            out["additional_table_filters"] = atf
        if overrides:
            out.update(overrides)
        return out

    def execute(self, compiled: CompiledQuery, fmt: str, principal: Principal,
                overrides: dict[str, Any] | None = None) -> Executed:
        """Blocking: call through ``Engine.run``."""
        try:
            res = self.rt.engine.query(compiled.sql, fmt, settings=self.settings(compiled, overrides))
        except EngineError as e:
            raise self.map_error(e, principal) from None
        return Executed(res, fmt, compiled)

    def map_error(self, e: EngineError, principal: Principal) -> RoostError:
        if e.name in LIMIT_ERRORS:
            setting, status = LIMIT_ERRORS[e.name]
            value = {"max_execution_time": f"{self.rt.settings.max_execution_time} s",
                     "max_memory_usage": f"{self.rt.settings.max_memory_usage} bytes",
                     "max_result_bytes": f"{self.rt.settings.max_result_bytes} bytes"}.get(setting, "")
            return QueryLimitExceeded(f"The query exceeded the limit {setting} ({value}). "
                                      "Make it cheaper: filter more, aggregate, or add a LIMIT", status=status)
        msg = self.readable(e.message)
        filtered = any(s.filter for s in principal.scopes) or principal.kind == "jwt"
        show = principal.is_admin or (e.name in SAFE_ERRORS and not (filtered and e.name in VALUE_QUOTING))
        if show:
            return BadRequest(f"[Error] {msg} ({e.name or 'ERROR'})", documentation=DOC_QUERY)
        return BadRequest(f"[Error] The query failed: {e.name or 'engine error'}. The details are hidden because "
                          "they could contain values from rows this token may not read", documentation=DOC_QUERY)

    def readable(self, msg: str) -> str:
        """Replace physical table names by data source names; drop engine stack hints."""
        db = self.rt.database

        def repl(m: re.Match[str]) -> str:
            ds = self.rt.catalog.get_datasource(m.group(1))
            suffix = m.group(2) or ""
            return (ds["name"] + suffix) if ds else "table"

        msg = re.sub(rf"`?{re.escape(db)}`?\.`?(t_[0-9a-f]{{32}})(_quarantine)?`?", repl, msg)
        msg = re.sub(r"\b(t_[0-9a-f]{32})(_quarantine)?\b", repl, msg)
        # the generated SQL (with filters and settings) is Roost's business, not the caller's
        msg = re.sub(r"\s*In scope .*", "", msg, flags=re.S)
        for cut in (": While executing", ". Stack trace"):
            i = msg.find(cut)
            if i > 0:
                msg = msg[:i]
        return msg.strip()

