"""Data sources: create, describe, append/replace, truncate, delete rows, alter, drop.

Handlers call these; the physical table of data source ``t_<hex>`` is ``<workspace db>.t_<hex>`` and
its quarantine ``<workspace db>.t_<hex>_quarantine``. Names are only in the catalog.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from roost.engine.base import EngineError
from roost.errors import DOC_DATASOURCES, BadRequest, Conflict, NotFound
from roost.ingest.importer import ImportResult
from roost.ingest.schema import (
    Column,
    EngineSpec,
    check_name,
    columns_from_doc,
    engine_from_doc,
    parse_engine,
    parse_schema,
)
from roost.ingest.tables import create_quarantine_sql, create_table_sql

if TYPE_CHECKING:
    from roost.runtime import Runtime

QUARANTINE_SUFFIX = "_quarantine"


def new_id() -> str:
    return "t_" + uuid.uuid4().hex


class DataSources:
    #: how long ``find_cached`` may answer from memory (drops and renames by another process)
    CACHE_SECONDS = 1.0

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}

    # --- naming ---------------------------------------------------------------------------------
    def table(self, ds: dict[str, Any]) -> str:
        return f"{self.rt.database}.`{ds['id']}`"

    def quarantine(self, ds: dict[str, Any]) -> str:
        return f"{self.rt.database}.`{ds['id']}{QUARANTINE_SUFFIX}`"

    @staticmethod
    def columns(ds: dict[str, Any]) -> list[Column]:
        return columns_from_doc(ds["columns"])

    def get(self, name_or_id: str) -> dict[str, Any]:
        ds = self.rt.catalog.get_datasource(name_or_id)
        if ds is None:
            raise NotFound(f'Data Source "{name_or_id}" does not exist', documentation=DOC_DATASOURCES)
        return ds

    def find(self, name_or_id: str) -> dict[str, Any] | None:
        return self.rt.catalog.get_datasource(name_or_id)

    def find_cached(self, name_or_id: str) -> dict[str, Any] | None:
        """``find`` for the ingestion hot path (one catalog query per Events API request was half of
        its cost). Changes made through this object are seen at once; others within ``CACHE_SECONDS``."""
        now = time.monotonic()
        hit = self._cache.get(name_or_id)
        if hit is not None and now - hit[0] < self.CACHE_SECONDS:
            return hit[1]
        ds = self.rt.catalog.get_datasource(name_or_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[name_or_id] = (now, ds)
        return ds

    def invalidate(self) -> None:
        self._cache.clear()

    # --- create ---------------------------------------------------------------------------------
    def create(self, params: dict[str, str], request_id: str = "") -> dict[str, Any]:
        name = check_name(params.get("name") or "")
        if name.endswith(QUARANTINE_SUFFIX):
            raise BadRequest(f'Invalid Data Source name "{name}": the suffix {QUARANTINE_SUFFIX} is reserved for '
                             "quarantine tables", documentation=DOC_DATASOURCES)
        if self.rt.catalog.get_datasource(name) is not None or self.rt.catalog.get_pipe(name) is not None:
            raise Conflict(f'Data Source "{name}" already exists', documentation=DOC_DATASOURCES)
        schema = params.get("schema")
        if not schema:
            raise BadRequest("The schema parameter is required to create a Data Source", documentation=DOC_DATASOURCES)
        columns = parse_schema(schema)
        fmt = (params.get("format") or "").lower() or (
            "ndjson" if any(c.jsonpath for c in columns) else "csv"
        )
        if fmt not in ("csv", "ndjson", "parquet"):
            raise BadRequest(f"Unsupported format '{fmt}': use csv, ndjson or parquet")
        engine = parse_engine(params, columns)
        ds_id = new_id()
        doc = {
            "description": params.get("description") or "",
            "columns": [c.to_json() for c in columns],
            "engine": engine.to_doc(),
            "format": fmt,
            "database": self.rt.database,
            "version": 0,
        }
        t0 = time.monotonic()
        table = f"{self.rt.database}.`{ds_id}`"
        try:
            self.rt.engine.command(create_table_sql(table, columns, engine))
        except EngineError as e:
            raise BadRequest(f"Invalid Data Source definition: {e.message}",
                             documentation=DOC_DATASOURCES) from None
        try:
            self.rt.engine.command(create_quarantine_sql(f"{self.rt.database}.`{ds_id}{QUARANTINE_SUFFIX}`",
                                                         columns))
            ds = self.rt.catalog.create_datasource(ds_id, name, doc)
            self.invalidate()
        except Exception:
            self.rt.engine.command(f"DROP TABLE IF EXISTS {table} SYNC")
            raise
        self.rt.logs.ops("create", ds, elapsed=time.monotonic() - t0, request_id=request_id,
                         options={"engine": engine.engine})
        self.rt.changed()
        return ds

    # --- describe -------------------------------------------------------------------------------
    def stats(self) -> dict[str, tuple[int, int]]:
        """{table name: (rows, bytes)} for the workspace database (exact rows for MergeTree)."""
        from roost.sql.literals import string_literal

        res = self.rt.engine.query(
            "SELECT name, total_rows, total_bytes FROM system.tables WHERE database = "
            + string_literal(self.rt.database),
            "JSONCompactEachRow",
        )
        out: dict[str, tuple[int, int]] = {}
        for line in res.data.splitlines():
            name, rows, size = orjson.loads(line)
            out[name] = (int(rows or 0), int(size or 0))
        return out

    def describe(self, ds: dict[str, Any], stats: dict[str, tuple[int, int]] | None = None) -> dict[str, Any]:
        cols = self.columns(ds)
        engine = engine_from_doc(ds["engine"])
        rows, size = (stats or {}).get(ds["id"], (0, 0))
        q_rows = (stats or {}).get(ds["id"] + QUARANTINE_SUFFIX, (0, 0))[0]
        used_by = [
            {"id": p["id"], "name": p["name"]}
            for p in self.rt.catalog.list_pipes()
            if ds["name"] in (p.get("dependencies") or [])
        ]
        return {
            "id": ds["id"],
            "name": ds["name"],
            "description": ds.get("description", ""),
            "cluster": None,
            "tags": {},
            "created_at": ds["created_at"],
            "updated_at": ds["updated_at"],
            "replicated": False,
            "version": ds.get("version", 0),
            "project": None,
            "headers": {},
            "shared_with": [],
            "shared_from": None,
            "engine": engine.to_json(),
            "columns": [c.to_json() for c in cols],
            "schema": {"columns": [c.to_json() for c in cols],
                       "sql_schema": ", ".join(c.sql_schema() for c in cols)},
            "statistics": {"bytes": size, "row_count": rows},
            "stats": {"bytes": size, "row_count": rows},
            "quarantine_rows": q_rows,
            "new_columns_detected": False,
            "type": ds.get("format", "csv"),
            "used_by": used_by,
            "indexes": [],
            "errors_discarded_at": None,
            "last_commit": {"content_sha": "", "path": "", "status": "ok"},
            "service": None,
        }

    # --- append / replace -----------------------------------------------------------------------
    def import_file(self, ds: dict[str, Any], path: Path, fmt: str, import_id: str, *,
                    delimiter: str = ",", dedup_token: str | None = None,
                    table: str | None = None) -> ImportResult:
        return self.rt.importer.run(
            table=table or self.table(ds),
            quarantine=self.quarantine(ds),
            columns=self.columns(ds),
            fmt=fmt,
            path=path,
            import_id=import_id,
            delimiter=delimiter,
            dedup_token=dedup_token,
        )

    def import_tagged(self, ds: dict[str, Any], path: Path, import_id: str) -> dict[int, ImportResult]:
        """Many requests' NDJSON in one import (``pipeline.tag_lines``): counts per request number."""
        return self.rt.importer.run_tagged(table=self.table(ds), quarantine=self.quarantine(ds),
                                           columns=self.columns(ds), path=path, import_id=import_id)

    def replace_file(self, ds: dict[str, Any], path: Path, fmt: str, import_id: str, *,
                     delimiter: str = ",") -> ImportResult:
        """Load into a new table, then swap it in atomically (EXCHANGE TABLES) and drop the old."""
        cols = self.columns(ds)
        engine = engine_from_doc(ds["engine"])
        tmp = f"{self.rt.database}.`{ds['id']}_replace_{uuid.uuid4().hex[:12]}`"
        self.rt.engine.command(create_table_sql(tmp, cols, engine))
        try:
            res = self.import_file(ds, path, fmt, import_id, delimiter=delimiter, table=tmp)
            self.rt.importer.forget(tmp)  # its pipelines must not outlive the name swap
            self.rt.engine.command(f"EXCHANGE TABLES {tmp} AND {self.table(ds)}")
        finally:
            self.rt.importer.forget(tmp)
            self.rt.engine.command(f"DROP TABLE IF EXISTS {tmp} SYNC")
        return res

    # --- maintenance ----------------------------------------------------------------------------
    def truncate(self, name: str, request_id: str = "") -> None:
        base = name[: -len(QUARANTINE_SUFFIX)] if name.endswith(QUARANTINE_SUFFIX) else name
        is_q = base != name and self.find(name) is None
        ds = self.get(base if is_q else name)
        table = self.quarantine(ds) if is_q else self.table(ds)
        t0 = time.monotonic()
        self.rt.engine.command(f"TRUNCATE TABLE {table} SYNC")
        self.rt.logs.ops("truncate", ds, elapsed=time.monotonic() - t0, request_id=request_id,
                         options={"quarantine": str(is_q).lower()})

    def drop(self, ds: dict[str, Any], request_id: str = "") -> None:
        t0 = time.monotonic()
        self.rt.catalog.delete_datasource(ds["id"])
        self.invalidate()
        self.rt.importer.forget(self.table(ds))
        self.rt.engine.command(f"DROP TABLE IF EXISTS {self.table(ds)} SYNC")
        self.rt.engine.command(f"DROP TABLE IF EXISTS {self.quarantine(ds)} SYNC")
        self.rt.logs.ops("delete", ds, elapsed=time.monotonic() - t0, request_id=request_id)
        self.rt.changed()

    def dependent_pipes(self, ds: dict[str, Any]) -> list[str]:
        return [p["name"] for p in self.rt.catalog.list_pipes() if ds["name"] in (p.get("dependencies") or [])]

    def check_condition(self, ds: dict[str, Any], condition: str) -> str:
        """A delete condition: one boolean expression over the data source's columns (the compiler's
        filter check). A forbidden function is bad input here (400), not an authorization failure."""
        from roost.errors import RoostError
        from roost.sql.compiler import validate_filter

        try:
            return validate_filter(condition, {c.name for c in self.columns(ds)})
        except RoostError as e:
            raise BadRequest(f"Invalid delete_condition: {e.message}", documentation=DOC_DATASOURCES) from None

    def count_where(self, ds: dict[str, Any], condition: str) -> int:
        res = self.rt.engine.query(f"SELECT count() FROM {self.table(ds)} WHERE {condition}", "JSONCompactEachRow")
        return int(orjson.loads(res.data.splitlines()[0])[0]) if res.data.strip() else 0

    def delete_rows(self, ds: dict[str, Any], condition: str, job_id: str) -> int:
        """Runs in the jobs pool: a synchronous mutation (lightweight delete)."""
        n = self.count_where(ds, condition)
        self.rt.engine.command(
            f"ALTER TABLE {self.table(ds)} DELETE WHERE {condition}", settings={"mutations_sync": 2}
        )
        return n

    def alter(self, ds: dict[str, Any], params: dict[str, str], dry: bool, request_id: str = "") -> list[str]:
        ops: list[str] = []
        new_doc = dict(ds)
        if "description" in params:
            new_doc["description"] = params["description"]
        if params.get("schema"):
            new_cols = parse_schema(params["schema"])
            old = self.columns(ds)
            old_names = [c.name for c in old]
            new_names = [c.name for c in new_cols]
            if new_names[: len(old_names)] != old_names:
                raise BadRequest("Only adding new columns at the end of the schema is supported",
                                 documentation=DOC_DATASOURCES)
            for o, n in zip(old, new_cols, strict=False):
                if o.type != n.type or (o.jsonpath or None) != (n.jsonpath or None):
                    raise BadRequest(f"Column '{o.name}' cannot be modified; only new columns can be added",
                                     documentation=DOC_DATASOURCES)
            added = new_cols[len(old):]
            for c in added:
                ops.append(f"ADD COLUMN {c.ddl()}")
            new_doc["columns"] = [c.to_json() for c in new_cols]
        if "ttl" in params:
            from roost.ingest.schema import normalize_list

            ttl = params["ttl"]
            eng = engine_from_doc(ds["engine"])
            if ttl in ("", "false"):
                if eng.ttl:
                    ops.append("REMOVE TTL")
                eng.ttl = None
            else:
                eng.ttl = normalize_list(ttl, "ttl")
                ops.append(f"MODIFY TTL {eng.ttl}")
            new_doc["engine"] = eng.to_doc()
        if not ops and new_doc.get("description") == ds.get("description"):
            raise BadRequest("No operations to perform: nothing changed", documentation=DOC_DATASOURCES)
        if dry:
            return ops
        self.rt.importer.forget(self.table(ds))
        for op in ops:
            self.rt.engine.command(f"ALTER TABLE {self.table(ds)} {op}")
            if op.startswith("ADD COLUMN"):
                col = op[len("ADD COLUMN "):].split(" ", 1)[0]
                self.rt.engine.command(f"ALTER TABLE {self.quarantine(ds)} ADD COLUMN IF NOT EXISTS {col} "
                                       "Nullable(String)")
        new_doc["version"] = int(ds.get("version", 0)) + (1 if ops else 0)
        self.rt.catalog.update_datasource(ds["id"], new_doc)
        self.invalidate()
        self.rt.logs.ops("alter", ds, request_id=request_id, options={"operations": "; ".join(ops)})
        self.rt.changed()
        return ops


def engine_spec(ds: dict[str, Any]) -> EngineSpec:
    return engine_from_doc(ds["engine"])
