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
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from roost.errors import ServiceUnavailable
from roost.ingest.importer import ImportResult
from roost.ingest.wal import WAL

if TYPE_CHECKING:
    from roost.runtime import Runtime

log = logging.getLogger("roost.events")


@dataclass
class Accepted:
    rows: int
    quarantined: int


def check_lines(payload: bytes) -> tuple[int, int]:
    """(good, bad) line counts: a good line is one JSON object."""
    good = bad = 0
    for line in payload.split(b"\n"):
        if not line.strip():
            continue
        try:
            ok = isinstance(orjson.loads(line), dict)
        except orjson.JSONDecodeError:
            ok = False
        if ok:
            good += 1
        else:
            bad += 1
    return good, bad


class EventsBatcher:
    def __init__(self, rt: Runtime, directory: Path) -> None:
        self.rt = rt
        self.dir = directory
        self.wal = WAL(directory / "wal")
        self.spool_dir = directory / "spool"
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._unflushed = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.max_unflushed = 512 * 1024 * 1024
        self.last_error: str | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Replay what a previous process acknowledged but did not insert, then start flushing."""
        closed = self.wal.rotate()
        for seq in self.wal.segments():
            if seq <= closed:
                self._flush_segment(seq)
        self._thread = threading.Thread(target=self._loop, name="roost-events", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=60)
        self.wal.close()

    # --- requests -------------------------------------------------------------------------------
    async def accept(self, ds: dict[str, Any], payload: bytes) -> Accepted:
        if self._unflushed > self.max_unflushed:
            raise ServiceUnavailable("Too many events are waiting to be written; retry later")
        good, bad = await asyncio.to_thread(check_lines, payload) if len(payload) > 256 * 1024 else \
            check_lines(payload)
        if not payload.endswith(b"\n"):
            payload += b"\n"
        await asyncio.wrap_future(self.wal.append(ds["id"], payload))
        self._unflushed += len(payload)
        if self._unflushed >= self.rt.settings.events_flush_bytes:
            self._wake.set()
        return Accepted(good, bad)

    def import_now(self, ds: dict[str, Any], payload: bytes, import_id: str) -> ImportResult:
        path = self.spool_dir / f"now-{uuid.uuid4().hex}.ndjson"
        path.write_bytes(payload)
        try:
            return self.rt.datasources.import_file(ds, path, "ndjson", import_id)
        finally:
            path.unlink(missing_ok=True)

    # --- flushing -------------------------------------------------------------------------------
    def _loop(self) -> None:
        interval = self.rt.settings.events_flush_interval
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> None:
        if self._unflushed == 0 and len(self.wal.segments()) <= 1:
            return
        self._unflushed = 0
        closed = self.wal.rotate()
        for seq in self.wal.segments():
            if seq > closed:
                break
            if not self._flush_segment(seq):
                time.sleep(0.5)
                return

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
                self.last_error = str(e)
                log.error("could not insert events for %s (segment %d kept for retry): %s", ds["name"], seq, e)
                self.rt.logs.ops("append-hfi", ds, result="error", error=str(e), import_id=import_id)
                return False
            finally:
                path.unlink(missing_ok=True)
            self.rt.logs.ops("append-hfi", ds, elapsed=time.monotonic() - t0, rows=res.rows,
                             rows_quarantine=res.quarantined, import_id=import_id,
                             error="; ".join(res.errors) or None)
        self.wal.remove(seq)
        return True
