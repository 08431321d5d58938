"""A small asyncio HTTP/1.1 load generator (keep-alive, N connections, fixed duration).

Used by the bench scripts so that they need nothing outside the project's own packages. It prints
nothing; ``run`` returns requests/s and latency percentiles.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000

    @property
    def p50(self) -> float:
        return self.pct(50)

    @property
    def p99(self) -> float:
        return self.pct(99)


async def _conn_loop(host: str, port: int, make: Callable[[random.Random], bytes], deadline: float,
                     res: LoadResult, seed: int) -> None:
    rnd = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            req = make(rnd)
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            dt = time.perf_counter() - t0
            res.requests += 1
            res.latencies.append(dt)
            if status != 200:
                res.errors += 1
    finally:
        writer.close()


def request_bytes(path: str, host: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: keep-alive\r\n\r\n".encode()


def run(host: str, port: int, make: Callable[[random.Random], bytes], *, connections: int, seconds: float,
        warmup: float = 1.0) -> LoadResult:
    async def main() -> LoadResult:
        if warmup:
            w = LoadResult(0, 0, 0, [])
            await asyncio.gather(*[_conn_loop(host, port, make, time.perf_counter() + warmup, w, 1000 + i)
                                   for i in range(connections)])
        res = LoadResult(0, 0, 0, [])
        t0 = time.perf_counter()
        await asyncio.gather(*[_conn_loop(host, port, make, t0 + seconds, res, i) for i in range(connections)])
        res.seconds = time.perf_counter() - t0
        return res

    return asyncio.run(main())


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")
