"""Spool a request body to a file under the data dir: streamed, gunzipped, size-limited.

A large body is never held in memory: it goes chunk by chunk from the socket (or the multipart
part) through an incremental gzip decoder into the file that the importer streams to the engine.
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

from roost.errors import BadRequest, PayloadTooLarge

GZIP_MAGIC = b"\x1f\x8b"


class Spool:
    def __init__(self, directory: Path, limit: int, *, gzip: bool | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"spool-{uuid.uuid4().hex}"
        self.limit = limit
        self._gzip = gzip  # None: detect from the first bytes
        self._decoder: zlib._Decompress | None = None
        self._f = open(self.path, "wb")
        self.raw_bytes = 0
        self.bytes = 0
        self._started = False

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.raw_bytes += len(chunk)
        if not self._started:
            self._started = True
            if self._gzip is None:
                self._gzip = chunk[:2] == GZIP_MAGIC
            if self._gzip:
                self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(chunk, max(self.limit - self.bytes + 1, 1))
                while self._decoder.unconsumed_tail and len(data) <= self.limit - self.bytes:
                    self._emit(data)
                    data = self._decoder.decompress(self._decoder.unconsumed_tail,
                                                    max(self.limit - self.bytes + 1, 1))
            except zlib.error as e:
                raise BadRequest(f"Invalid gzip body: {e}") from None
        else:
            data = chunk
        self._emit(data)

    def _emit(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.bytes > self.limit:
            raise PayloadTooLarge(f"The request body is too large: the limit is {self.limit} bytes")
        self._f.write(data)

    def finish(self, fsync: bool = False) -> Path:
        if self._decoder is not None:
            try:
                self._emit(self._decoder.flush())
            except zlib.error as e:
                raise BadRequest(f"Invalid gzip body: {e}") from None
            if not self._decoder.eof:
                raise BadRequest("Invalid gzip body: the stream is truncated")
        self._f.flush()
        if fsync:
            os.fsync(self._f.fileno())
        self._f.close()
        return self.path

    def discard(self) -> None:
        try:
            self._f.close()
        finally:
            self.path.unlink(missing_ok=True)

    async def consume(self, stream: AsyncIterator[bytes]) -> Path:
        try:
            async for chunk in stream:
                self.write(chunk)
            return self.finish()
        except BaseException:
            self.discard()
            raise
