"""Service data sources (``tinybird.*``): the operations log and the request log.

Rows are queued in memory and written in batches by one background thread (one engine insert per
second at most), so logging never sits on a request's path and never makes tiny parts.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import orjson

from roost.engine.base import Engine, EngineError

log = logging.getLogger("roost.service_logs")

SERVICE_DB = "tinybird"

TABLES: dict[str, str] = {
    "datasources_ops_log": """
        `timestamp` DateTime, `event_type` String, `datasource_id` String, `datasource_name` String,
        `result` String, `elapsed_time` Float32, `error` Nullable(String),
        `Options.Names` Array(String), `Options.Values` Array(String), `request_id` String,
        `import_id` Nullable(String), `job_id` Nullable(String), `rows` Nullable(UInt64),
        `rows_quarantine` Nullable(UInt64), `blocks_ids` Array(String), `operation_id` String,
        `read_rows` UInt64, `read_bytes` UInt64, `cpu_time` Float32, `memory_usage` UInt64,
        `written_rows` UInt64, `written_bytes` UInt64, `written_rows_quarantine` UInt64,
        `written_bytes_quarantine` UInt64, `pipe_id` String, `pipe_name` String, `release` String,
        `resource_tags` Array(String)
    """,
    "pipe_stats_rt": """
        `start_datetime` DateTime, `pipe_id` String, `pipe_name` String, `token` String, `token_name` String,
        `duration` Float32, `read_bytes` UInt64, `read_rows` UInt64, `cpu_time` Float32, `result_rows` UInt64,
        `url` Nullable(String), `error` UInt8, `error_message` Nullable(String), `status_code` Int32,
        `request_id` String, `parameters` Map(String, String), `method` String, `release` String,
        `user_agent` Nullable(String), `client_ip` Nullable(String), `resource_tags` Array(String),
        `memory_usage` UInt64, `replica` String
    """,
}
ORDER_BY = {"datasources_ops_log": "timestamp", "pipe_stats_rt": "(pipe_id, start_datetime)"}
TTL = {"datasources_ops_log": "timestamp + INTERVAL 90 DAY", "pipe_stats_rt": "start_datetime + INTERVAL 90 DAY"}


def physical(name: str) -> str:
    return f"{SERVICE_DB}.`{name}`"


def now_ts() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class ServiceLogs:
    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self.engine = engine
        self.interval = interval
        self._queues: dict[str, list[bytes]] = {n: [] for n in TABLES}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def setup(self) -> None:
        self.engine.command(f"CREATE DATABASE IF NOT EXISTS {SERVICE_DB}")
        for name, cols in TABLES.items():
            self.engine.command(
                f"CREATE TABLE IF NOT EXISTS {physical(name)} ({cols}) ENGINE = MergeTree "
                f"ORDER BY {ORDER_BY[name]} TTL {TTL[name]}"
            )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="roost-service-logs", daemon=True)
        self._thread.start()

    def add(self, table: str, row: dict[str, Any]) -> None:
        line = orjson.dumps(row)
        with self._lock:
            self._queues[table].append(line)

    def ops(self, event_type: str, ds: dict[str, Any], *, result: str = "ok", elapsed: float = 0.0,
            error: str | None = None, rows: int | None = None, rows_quarantine: int | None = None,
            request_id: str = "", import_id: str | None = None, job_id: str | None = None,
            options: dict[str, str] | None = None) -> None:
        opts = options or {}
        self.add(
            "datasources_ops_log",
            {
                "timestamp": now_ts(),
                "event_type": event_type,
                "datasource_id": ds.get("id", ""),
                "datasource_name": ds.get("name", ""),
                "result": result,
                "elapsed_time": elapsed,
                "error": error,
                "Options.Names": list(opts.keys()),
                "Options.Values": [str(v) for v in opts.values()],
                "request_id": request_id,
                "import_id": import_id,
                "job_id": job_id,
                "rows": rows,
                "rows_quarantine": rows_quarantine,
                "operation_id": import_id or job_id or request_id,
                "written_rows": rows or 0,
                "written_rows_quarantine": rows_quarantine or 0,
            },
        )
        self._wake.set()

    def flush(self) -> None:
        with self._lock:
            batches = {k: v for k, v in self._queues.items() if v}
            self._queues = {n: [] for n in TABLES}
        for table, lines in batches.items():
            try:
                self.engine.insert(
                    physical(table), "JSONEachRow", [b"\n".join(lines) + b"\n"],
                    settings={"input_format_skip_unknown_fields": 1, "insert_deduplicate": 0},
                )
            except EngineError as e:  # pragma: no cover - logged, retried next round
                log.error("could not write %d rows to %s: %s", len(lines), table, e.message)
                with self._lock:
                    self._queues[table][:0] = lines

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self._stop.wait(0.2)  # let a burst of operations gather into one insert
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        self.flush()
