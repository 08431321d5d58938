"""The embedded engine: chDB (ClickHouse in-process) under ``<data-dir>/engine``.

One chDB connection per worker thread (a shared session serializes queries and carries state
between callers, engine-security.md finding 4). After any engine error the thread's connection
is closed and reopened, so partial output of a failed query never reaches the next caller.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import chdb

from roost.engine.base import EngineError, QueryResult, settings_clause

T = TypeVar("T")


class ChdbEngine:
    kind = "chdb"

    def __init__(self, path: Path, threads: int = 4) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        # Open one connection now: fails fast if another process holds the data dir.
        self._conn()
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="roost-engine")

    # --- connections -----------------------------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise EngineError("engine is closed")
            try:
                conn = chdb.connect(str(self.path))
            except Exception as e:  # pragma: no cover - depends on the environment
                raise EngineError(f"cannot open the engine at {self.path}: {e}") from e
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _reset(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._conns_lock:
                if conn in self._conns:
                    self._conns.remove(conn)
            try:
                conn.close()
            except Exception:
                pass

    # --- statements --------------------------------------------------------------------------
    def query(
        self,
        sql: str,
        fmt: str = "JSON",
        *,
        params: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> QueryResult:
        text = sql + settings_clause(settings)
        conn = self._conn()
        try:
            r = conn.query(text, fmt, params={k: escape_param(v) for k, v in params.items()} if params else None)
        except Exception as e:
            self._reset()
            raise EngineError.from_text(str(e)) from None
        if r is None:
            return QueryResult(b"")
        if r.has_error():  # pragma: no cover - chdb raises instead
            self._reset()
            raise EngineError.from_text(r.error_message())
        return QueryResult(
            data=r.bytes(),
            rows_read=int(r.rows_read()),
            bytes_read=int(r.bytes_read()),
            rows_written=int(r.rows_written()) if hasattr(r, "rows_written") else 0,
            elapsed=float(r.elapsed()),
        )

    def command(self, sql: str, *, settings: Mapping[str, Any] | None = None) -> QueryResult:
        return self.query(sql, "TabSeparated", settings=settings)

    def insert(
        self,
        table: str,
        fmt: str,
        chunks: Iterable[bytes],
        *,
        columns: list[str] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> int:
        cols = f" ({', '.join(columns)})" if columns else ""
        stmt = f"INSERT INTO {table}{cols}{settings_clause(settings)}"
        conn = self._conn()
        try:
            ins = conn.send_insert(stmt, fmt)
        except Exception as e:
            self._reset()
            raise EngineError.from_text(str(e)) from None
        try:
            for chunk in chunks:
                if chunk:
                    ins.append(chunk)
            res = ins.finish()
        except BaseException as e:
            try:
                ins.cancel()
            except Exception:
                pass
            self._reset()
            if isinstance(e, Exception) and not isinstance(e, EngineError):
                raise EngineError.from_text(str(e)) from None
            raise
        return _rows_written(res)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    def close(self) -> None:
        self._closed = True
        self.executor.shutdown(wait=True, cancel_futures=True)
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except Exception:
                pass
        self._local = threading.local()


def _rows_written(res: Any) -> int:
    if res is None:
        return 0
    for attr in ("rows_written", "written_rows"):
        v = getattr(res, attr, None)
        if v is not None:
            return int(v() if callable(v) else v)
    if isinstance(res, dict):
        return int(res.get("rows_written") or res.get("written_rows") or 0)
    return 0


def escape_param(value: Any) -> Any:
    """Query parameter values are read in ClickHouse's escaped text format: a raw tab, new line or
    backslash in a value would end it early or change it. Strings are escaped so they arrive intact."""
    if not isinstance(value, str):
        return value
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\0", "\\0"))
