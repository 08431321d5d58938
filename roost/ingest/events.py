"""The Events API batcher: many small NDJSON requests become few large inserts.

``accept`` checks each line is a JSON object, appends the body to the WAL (fsync, group commit)
and returns; a background thread closes the WAL segment every ``flush_interval`` seconds (or
sooner when enough bytes are waiting), imports each data source's rows from it with a
deduplication token, then deletes the segment. ``wait=true`` requests are imported on their own
and answered with exact counts once committed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from roost.errors import ServiceUnavailable
from roost.ingest.importer import ImportResult
from roost.ingest.pipeline import tag_lines
from roost.ingest.wal import WAL

if TYPE_CHECKING:
    from roost.runtime import Runtime

log = logging.getLogger("roost.events")

SWITCH_INTERVAL = 0.001  # seconds; see EventsBatcher.start


@dataclass
class Accepted:
    rows: int
    quarantined: int


def check_lines(payload: bytes) -> tuple[int, int]:
    """(good, bad) line counts: a good line is one JSON object; blank lines are not rows.

    The usual body (one object per line, nothing else) is parsed in one go as a JSON array; anything
    unusual (blank lines, bad lines) is checked line by line. These counts are what the 202 answer
    promises; the import itself checks every value against the schema.
    """
    body = payload.strip()
    if not body:
        return 0, 0
    n = body.count(b"\n") + 1
    try:
        docs = orjson.loads(b"[" + body.replace(b"\n", b",") + b"]")
    except orjson.JSONDecodeError:
        docs = None
    if docs is not None and len(docs) == n:
        good = sum(1 for d in docs if type(d) is dict)
        return good, n - good
    good = bad = 0
    for line in body.split(b"\n"):
        if not line.strip():
            continue
        try:
            ok = type(orjson.loads(line)) is dict
        except orjson.JSONDecodeError:
            ok = False
        good += ok
        bad += not ok
    return good, bad


@dataclass
class _Waiting:
    ds: dict[str, Any]
    payload: bytes
    loop: asyncio.AbstractEventLoop
    fut: asyncio.Future[ImportResult]


def _settle(pairs: list[tuple[asyncio.Future[ImportResult], Any]]) -> None:
    for fut, outcome in pairs:
        if fut.done():  # the client went away
            continue
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            fut.set_result(outcome)


class EventsBatcher:
    def __init__(self, rt: Runtime, directory: Path) -> None:
        self.rt = rt
        self.dir = directory
        self.wal = WAL(directory / "wal")
        self.spool_dir = directory / "spool"
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.spool_dir.glob("*"):  # files of imports a crash interrupted (the WAL has them)
            leftover.unlink(missing_ok=True)
        self._unflushed = 0
        self._backlog = 0  # bytes of closed segments not inserted yet (inserts failing: backpressure)
        self._first_at = 0.0  # monotonic time of the oldest record not yet flushed
        self._last_at = 0.0  # ... and of the newest
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # wait=true requests: imported together, each answered with its own counts
        self._waiting: list[_Waiting] = []
        self._waiting_lock = threading.Lock()
        self._waiting_event = threading.Event()
        self._wait_thread: threading.Thread | None = None
        self.max_unflushed = 512 * 1024 * 1024
        self.last_error: str | None = None
        self._failures: dict[tuple[int, str], int] = {}

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Replay what a previous process acknowledged but did not insert, then start flushing."""
        # The event loop, the WAL writer and the flusher hand the GIL to each other for every request;
        # at CPython's default 5 ms switch interval each hand-off can stall a request that long (the
        # convoy effect, performance.md). 1 ms gave 1.5x the Events API throughput on 2 cores.
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        closed = self.wal.rotate()
        for seq in self.wal.segments():
            if seq <= closed:
                self._flush_segment(seq)
        self._thread = threading.Thread(target=self._loop, name="roost-events", daemon=True)
        self._thread.start()
        self._wait_thread = threading.Thread(target=self._wait_loop, name="roost-events-wait", daemon=True)
        self._wait_thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._waiting_event.set()
        if self._thread:
            self._thread.join(timeout=60)
        if self._wait_thread:
            self._wait_thread.join(timeout=60)
        self.wal.close()

    # --- requests -------------------------------------------------------------------------------
    async def accept(self, ds: dict[str, Any], payload: bytes) -> Accepted:
        if self._unflushed + self._backlog > self.max_unflushed:
            raise ServiceUnavailable("Too many events are waiting to be written; retry later")
        good, bad = await asyncio.to_thread(check_lines, payload) if len(payload) > 256 * 1024 else \
            check_lines(payload)
        if not payload.endswith(b"\n"):
            payload += b"\n"
        await self.wal.append_async(ds["id"], payload)
        now = time.monotonic()
        if not self._unflushed:
            self._first_at = now
        self._last_at = now
        self._unflushed += len(payload)
        if self._unflushed >= self.rt.settings.events_flush_bytes:
            self._wake.set()
        return Accepted(good, bad)

    async def accept_wait(self, ds: dict[str, Any], payload: bytes) -> ImportResult:
        """``wait=true``: answer once the rows are committed, with this request's exact counts.

        Requests that arrive while an import runs are imported together by the next one (group
        commit), so concurrent ``wait=true`` clients make one part per round, not one each.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[ImportResult] = loop.create_future()
        with self._waiting_lock:
            if self._stop.is_set():
                raise ServiceUnavailable("The server is shutting down; retry later")
            self._waiting.append(_Waiting(ds, payload, loop, fut))
        self._waiting_event.set()
        return await fut

    def _wait_loop(self) -> None:
        while True:
            self._waiting_event.wait(1.0)
            self._waiting_event.clear()
            with self._waiting_lock:
                batch, self._waiting = self._waiting, []
                stopping = self._stop.is_set()
            if batch:
                self._import_waiting(batch)
            elif stopping:
                return

    def _import_waiting(self, batch: list[_Waiting]) -> None:
        groups: dict[str, list[_Waiting]] = {}
        for w in batch:
            groups.setdefault(w.ds["id"], []).append(w)
        for items in groups.values():
            ds = items[0].ds
            import_id = str(uuid.uuid4())
            path = self.spool_dir / f"wait-{import_id}.tsv"
            t0 = time.monotonic()
            outcome: list[ImportResult] | BaseException
            try:
                path.write_bytes(tag_lines([w.payload for w in items]))
                per = self.rt.datasources.import_tagged(ds, path, import_id)
                outcome = [per.get(i, ImportResult()) for i in range(len(items))]
                self.rt.logs.ops("append-hfi", ds, elapsed=time.monotonic() - t0,
                                 rows=sum(r.rows for r in outcome), rows_quarantine=sum(r.quarantined for r in outcome),
                                 import_id=import_id, options={"wait": "true", "requests": str(len(items))})
            except Exception as e:
                log.error("could not insert wait=true events for %s: %s", ds["name"], e)
                self.rt.logs.ops("append-hfi", ds, result="error", error=getattr(e, "message", str(e)),
                                 import_id=import_id)
                outcome = e
            finally:
                path.unlink(missing_ok=True)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[ImportResult], Any]]] = {}
            for i, w in enumerate(items):
                by_loop.setdefault(w.loop, []).append((w.fut, outcome if isinstance(outcome, BaseException)
                                                       else outcome[i]))
            for loop, pairs in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, pairs)
                except RuntimeError:  # pragma: no cover - the loop is closed (shutdown)
                    pass

    # --- flushing -------------------------------------------------------------------------------
    #: a stream that pauses this long is flushed at once rather than at the end of the interval
    IDLE_FLUSH = 0.2
    TICK = 0.05

    def _due(self) -> bool:
        """Flush when enough bytes wait, when the oldest waited ``events_flush_interval``, or when the
        stream paused (its last rows should not wait for more that may never come)."""
        if not self._unflushed:
            return False
        now = time.monotonic()
        return (self._unflushed >= self.rt.settings.events_flush_bytes
                or now - self._first_at >= self.rt.settings.events_flush_interval
                or now - self._last_at >= self.IDLE_FLUSH)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.TICK)
            self._wake.clear()
            if self._due() or len(self.wal.segments()) > 1:
                self.flush()
        self.flush()

    def flush(self) -> None:
        if self._unflushed == 0 and len(self.wal.segments()) <= 1:
            return
        self._unflushed = 0
        closed = self.wal.rotate()
        waiting = [seq for seq in self.wal.segments() if seq <= closed]
        for i, seq in enumerate(waiting):
            if not self._flush_segment(seq):
                self._backlog = sum(self.wal.size(s) for s in waiting[i:])
                time.sleep(0.5)
                return
        self._backlog = 0

    #: attempts before a failing batch is moved, raw, to the quarantine
    MAX_ATTEMPTS = 3

    def _quarantine_raw(self, ds: dict[str, Any], payloads: list[bytes], seq: int, reason: str) -> bool:
        rows = []
        for payload in payloads:
            for line in payload.split(b"\n"):
                if line.strip():
                    rows.append(orjson.dumps({"c__raw": line.decode("utf-8", "replace"),
                                              "c__error": [f"the batch could not be imported: {reason}"],
                                              "c__error_column": [], "c__import_id": f"events-{seq}-{ds['id']}"}))
        try:
            self.rt.engine.insert(self.rt.datasources.quarantine(ds), "JSONEachRow", [b"\n".join(rows) + b"\n"],
                                  settings={"input_format_skip_unknown_fields": 1, "insert_deduplicate": 1,
                                            "insert_deduplication_token": f"wal{seq}-{ds['id']}-raw"})
        except Exception as e:  # the engine itself is failing: keep the segment
            log.error("could not quarantine events for %s: %s", ds["name"], e)
            return False
        self.rt.logs.ops("append-hfi", ds, result="error", rows=0, rows_quarantine=len(rows),
                         error=f"moved to the quarantine: {reason}", import_id=f"events-{seq}-{ds['id']}")
        return True

    def _flush_segment(self, seq: int) -> bool:
        groups: dict[str, list[bytes]] = {}
        for ds_id, payload in self.wal.read(seq):
            groups.setdefault(ds_id, []).append(payload)
        for ds_id, payloads in groups.items():
            ds = self.rt.catalog.get_datasource(ds_id)
            if ds is None:
                log.warning("events for a dropped data source %s discarded (%d requests)", ds_id, len(payloads))
                continue
            path = self.spool_dir / f"seg-{seq}-{ds_id}.ndjson"
            with open(path, "wb") as f:
                for p in payloads:
                    f.write(p)
            import_id = f"events-{seq}-{ds_id}"
            t0 = time.monotonic()
            try:
                res = self.rt.datasources.import_file(ds, path, "ndjson", import_id,
                                                      dedup_token=f"wal{seq}-{ds_id}")
            except Exception as e:
                msg = getattr(e, "message", None) or str(e)
                self.last_error = msg
                key = (seq, ds_id)
                self._failures[key] = self._failures.get(key, 0) + 1
                log.error("could not insert events for %s (segment %d, attempt %d): %s", ds["name"], seq,
                          self._failures[key], msg)
                self.rt.logs.ops("append-hfi", ds, result="error", error=msg, import_id=import_id)
                # A batch that keeps failing must not hold back every later event: after a few tries its
                # rows go to the quarantine, raw, with the reason (nothing is dropped). If even that fails
                # (the engine is down) the segment stays and is retried.
                if self._failures[key] < self.MAX_ATTEMPTS or not self._quarantine_raw(ds, payloads, seq, msg):
                    return False
                self._failures.pop(key, None)
                continue
            finally:
                path.unlink(missing_ok=True)
            self.rt.logs.ops("append-hfi", ds, elapsed=time.monotonic() - t0, rows=res.rows,
                             rows_quarantine=res.quarantined, import_id=import_id,
                             error="; ".join(res.errors) or None)
        self.wal.remove(seq)
        return True
