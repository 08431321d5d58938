"""The Events API write-ahead log: acknowledged rows survive ``kill -9``.

Records are appended to the current segment file and fsynced before the request is answered
(group commit: one write and one fsync cover every request that arrived meanwhile). The batcher
closes the segment, inserts its rows (per data source, with a deduplication token derived from the
segment and the data source), and only then deletes the segment. At start-up every segment left
behind is replayed with the same tokens, so rows inserted just before a crash are not inserted twice.
Segment numbers only grow: the current (possibly empty) segment is always on disk, and a new process
starts after the highest number it finds.

The request path does as little as possible: it queues (data source, payload) and waits. The writer
thread encodes the records (the CRC of a large buffer runs without the GIL), writes and fsyncs them,
and wakes all the requests of one event loop with a single ``call_soon_threadsafe``.

Record layout: ``magic(2) | crc32(4) | len(4) | header-len(2) | header JSON | payload``.
"""

from __future__ import annotations

import asyncio
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import orjson

MAGIC = b"RW"
_HDR = struct.Struct(">2sIIH")

# a waiter is a concurrent Future, or (loop, asyncio Future)
_Waiter = Any


class WAL:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        existing = self.segments()
        # Segment numbers are part of the deduplication tokens of their inserts, so they must never be
        # reused: a high-water mark survives even when every segment file is gone.
        self.seq = max((existing[-1] + 1) if existing else 1, self._read_mark() + 1)
        self._f = open(self._path(self.seq), "ab")
        self._write_mark(self.seq)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # guards _pending; held only for a moment
        self._io = threading.Lock()  # guards the segment file: writes, fsyncs and rotation
        self._pending: list[tuple[str, bytes, _Waiter]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._writer, name="roost-wal", daemon=True)
        self._thread.start()

    def _path(self, seq: int) -> Path:
        return self.dir / f"seg-{seq:012d}.wal"

    def segments(self) -> list[int]:
        out = []
        for p in self.dir.glob("seg-*.wal"):
            try:
                out.append(int(p.stem.split("-")[1]))
            except ValueError:
                continue
        return sorted(out)

    @staticmethod
    def encode(ds_id: str, payload: bytes) -> bytes:
        header = orjson.dumps({"ds": ds_id})
        crc = zlib.crc32(payload, zlib.crc32(header))
        return _HDR.pack(MAGIC, crc, len(header) + len(payload), len(header)) + header + payload

    def _queue(self, ds_id: str, payload: bytes, waiter: _Waiter) -> None:
        with self._cond:
            if self._stop:
                raise RuntimeError("the WAL is closed")
            self._pending.append((ds_id, payload, waiter))
            self._cond.notify()

    def append(self, ds_id: str, payload: bytes) -> Future[int]:
        """Queue a record; the future resolves with the segment number once it is on disk."""
        fut: Future[int] = Future()
        self._queue(ds_id, payload, fut)
        return fut

    def append_async(self, ds_id: str, payload: bytes) -> asyncio.Future[int]:
        """``append`` for the event loop: an asyncio future, resolved together with its batch."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        self._queue(ds_id, payload, (loop, fut))
        return fut

    def _writer(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if not self._pending and self._stop:
                    return
                batch, self._pending = self._pending, []
            # encode, write and fsync without holding _cond, so that appends never wait for the disk;
            # rotation waits for _io, so every acknowledged record is in the segment it was told
            with self._io:
                try:
                    self._f.write(b"".join(self.encode(ds, payload) for ds, payload, _ in batch))
                    self._f.flush()
                    os.fsync(self._f.fileno())
                    seq = self.seq
                    err: BaseException | None = None
                except BaseException as e:  # pragma: no cover - disk errors
                    err = e
            self._wake([w for _, _, w in batch], seq if err is None else -1, err)

    @staticmethod
    def _wake(waiters: list[_Waiter], seq: int, err: BaseException | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[int]]] = {}
        for w in waiters:
            if isinstance(w, tuple):
                by_loop.setdefault(w[0], []).append(w[1])
            elif err is None:
                w.set_result(seq)
            else:
                w.set_exception(err)
        for loop, futs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, futs, seq, err)
            except RuntimeError:  # pragma: no cover - the loop is closed (shutdown)
                pass

    def rotate(self) -> int:
        """Close the current segment and open the next; returns the closed segment's number."""
        with self._io:
            # the writer holds _io while writing, so every record acknowledged so far is in it
            closed = self.seq
            self._f.close()
            self.seq += 1
            self._f = open(self._path(self.seq), "ab")
            self._write_mark(self.seq)  # also syncs the directory: the new segment's name must survive
            return closed

    def _read_mark(self) -> int:
        try:
            return int((self.dir / "high-water").read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _write_mark(self, seq: int) -> None:
        tmp = self.dir / "high-water.tmp"
        with open(tmp, "w") as f:
            f.write(str(seq))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / "high-water")
        self._sync_dir()

    def read(self, seq: int) -> Iterator[tuple[str, bytes]]:
        """Records of one segment; a torn tail (crash during write) is ignored."""
        path = self._path(seq)
        if not path.exists():
            return
        data = memoryview(path.read_bytes())
        pos = 0
        while pos + _HDR.size <= len(data):
            magic, crc, length, hlen = _HDR.unpack_from(data, pos)
            start = pos + _HDR.size
            body = data[start:start + length]
            if magic != MAGIC or len(body) != length or zlib.crc32(body) != crc:
                break
            header = orjson.loads(body[:hlen])
            yield header["ds"], bytes(body[hlen:])
            pos = start + length

    def size(self, seq: int) -> int:
        try:
            return self._path(seq).stat().st_size
        except FileNotFoundError:
            return 0

    def remove(self, seq: int) -> None:
        self._path(seq).unlink(missing_ok=True)
        self._sync_dir()

    def _sync_dir(self) -> None:
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=10)
        with self._io:
            self._f.close()


def _resolve(futs: list[asyncio.Future[int]], seq: int, err: BaseException | None) -> None:
    for f in futs:
        if f.done():  # the request was cancelled (client gone): its record is on disk all the same
            continue
        if err is None:
            f.set_result(seq)
        else:
            f.set_exception(err)
