"""DDL for data sources and their quarantine tables (generated from parsed schemas only)."""

from __future__ import annotations

from roost.ingest.schema import Column, EngineSpec

# Tables get a deduplication window so that a replayed Events API batch (same token) is not
# inserted twice; ordinary appends run with insert_deduplicate=0 so identical files both land.
TABLE_SETTINGS = "non_replicated_deduplication_window = 1000"

QUARANTINE_EXTRA = [
    ("c__error_column", "Array(String)"),
    ("c__error", "Array(String)"),
    ("c__import_id", "Nullable(String)"),
    ("c__raw", "Nullable(String)"),
    ("insertion_date", "DateTime DEFAULT now()"),
]


def create_table_sql(table: str, columns: list[Column], engine: EngineSpec) -> str:
    cols = ",\n  ".join(c.ddl() for c in columns)
    settings = "" if engine.engine == "Null" else f" SETTINGS {TABLE_SETTINGS}"
    return f"CREATE TABLE {table} (\n  {cols}\n) ENGINE = {engine.engine_full()}{settings}"


def create_quarantine_sql(table: str, columns: list[Column]) -> str:
    cols = [f"`{c.name}` Nullable(String)" for c in columns]
    cols += [f"`{n}` {t}" for n, t in QUARANTINE_EXTRA]
    return (
        f"CREATE TABLE {table} (\n  " + ",\n  ".join(cols) + "\n) ENGINE = MergeTree ORDER BY insertion_date"
        f" SETTINGS {TABLE_SETTINGS}"
    )


def quarantine_columns(columns: list[Column]) -> list[str]:
    return [c.name for c in columns] + [n for n, _ in QUARANTINE_EXTRA]
