"""The Events API write-ahead log: acknowledged rows survive ``kill -9``.

Records are appended to the current segment file and fsynced before the request is answered
(group commit: one fsync covers every request that arrived meanwhile). The batcher closes the
segment, inserts its rows (per data source, with a deduplication token derived from the segment
and the data source), and only then deletes the segment. At start-up every segment left behind is
replayed with the same tokens, so rows inserted just before a crash are not inserted twice.

Record layout: ``magic(2) | crc32(4) | len(4) | header-len(2) | header JSON | payload``.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import orjson

MAGIC = b"RW"
_HDR = struct.Struct(">2sIIH")


class WAL:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        existing = self.segments()
        self.seq = (existing[-1] + 1) if existing else 1
        self._f = open(self._path(self.seq), "ab")
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._pending: list[tuple[bytes, Future[int]]] = []
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
        body = header + payload
        crc = zlib.crc32(body)
        return _HDR.pack(MAGIC, crc, len(body), len(header)) + body

    def append(self, ds_id: str, payload: bytes) -> Future[int]:
        """Queue a record; the future resolves with the segment number once it is on disk."""
        fut: Future[int] = Future()
        rec = self.encode(ds_id, payload)
        with self._cond:
            if self._stop:
                raise RuntimeError("the WAL is closed")
            self._pending.append((rec, fut))
            self._cond.notify()
        return fut

    def _writer(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if not self._pending and self._stop:
                    return
                batch, self._pending = self._pending, []
                try:
                    for rec, _ in batch:
                        self._f.write(rec)
                    self._f.flush()
                    os.fsync(self._f.fileno())
                    seq = self.seq
                    err: BaseException | None = None
                except BaseException as e:  # pragma: no cover - disk errors
                    err = e
            for _, fut in batch:
                if err is None:
                    fut.set_result(seq)
                else:
                    fut.set_exception(err)

    def rotate(self) -> int:
        """Close the current segment and open the next; returns the closed segment's number."""
        with self._cond:
            # the writer holds the lock while writing, so every record acknowledged so far is in it
            closed = self.seq
            self._f.close()
            self.seq += 1
            self._f = open(self._path(self.seq), "ab")
            return closed

    def read(self, seq: int) -> Iterator[tuple[str, bytes]]:
        """Records of one segment; a torn tail (crash during write) is ignored."""
        path = self._path(seq)
        if not path.exists():
            return
        data = path.read_bytes()
        pos = 0
        while pos + _HDR.size <= len(data):
            magic, crc, length, hlen = _HDR.unpack_from(data, pos)
            start = pos + _HDR.size
            body = data[start:start + length]
            if magic != MAGIC or len(body) != length or zlib.crc32(body) != crc:
                break
            header = orjson.loads(body[:hlen])
            yield header["ds"], body[hlen:]
            pos = start + length

    def remove(self, seq: int) -> None:
        self._path(seq).unlink(missing_ok=True)
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
        with self._cond:
            self._f.close()
