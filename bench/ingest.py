"""Ingestion benchmark: the same NDJSON rows loaded three ways, rows/s and ratios (median of runs).

    .venv/bin/python bench/ingest.py [--rows 1000000] [--runs 3] [--batch 100] [--connections 16]

(a) one ``POST /v0/datasources?mode=append`` with the whole NDJSON body, to a fresh Roost server
    subprocess (timed until the response, which comes after the rows are committed);
(b) the Events API: ``--batch``-row requests over ``--connections`` concurrent keep-alive
    connections, timed until ``statistics.row_count`` shows every row committed;
(c) chDB's own fastest insert of the same bytes, in this process, into an equivalent MergeTree
    table: ``send_insert("INSERT INTO db.t", "JSONEachRow").append(buf).finish()``.

Goals (issue 2): a/c >= 0.8, b/c >= 0.5. No pass/fail: it prints the figures. Every run uses a
fresh server with its own data dir and a fresh chDB path; all temp dirs are removed at exit.
The Events API client speaks raw HTTP/1.1 over asyncio streams so that the load generator,
which shares the machine's cores with the server, costs as little CPU as possible.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.server import RoostServer  # noqa: E402

EVENT_TYPES = ["view", "click", "add_to_cart", "remove_from_cart", "purchase", "search", "login", "logout"]
COLUMNS = [
    ("timestamp", "DateTime"),
    ("user_id", "UInt32"),
    ("event_type", "LowCardinality(String)"),
    ("product_id", "UInt32"),
    ("price", "Float64"),
    ("session_id", "String"),
]
SORTING_KEY = "user_id, timestamp"
SCHEMA = ", ".join(f"`{n}` {t} `json:$.{n}`" for n, t in COLUMNS)
DDL_COLUMNS = ", ".join(f"`{n}` {t}" for n, t in COLUMNS)


# --- data -------------------------------------------------------------------------------------------
def generate(n: int, seed: int = 42) -> list[bytes]:
    """``n`` deterministic NDJSON event lines (each ends with a newline)."""
    rng = random.Random(seed)
    base = 1_704_067_200  # 2024-01-01
    days: dict[int, str] = {}
    lines = []
    for i in range(n):
        ts = base + i * 7 + rng.randrange(7)
        day, sec = divmod(ts, 86_400)
        d = days.get(day)
        if d is None:
            d = days[day] = dt.datetime.fromtimestamp(day * 86_400, dt.UTC).strftime("%Y-%m-%d")
        h, rem = divmod(sec, 3600)
        m, s = divmod(rem, 60)
        lines.append(
            b'{"timestamp":"%s %02d:%02d:%02d","user_id":%d,"event_type":"%s","product_id":%d,'
            b'"price":%d.%02d,"session_id":"%016x"}\n'
            % (d.encode(), h, m, s, rng.randrange(100_000), EVENT_TYPES[rng.randrange(8)].encode(),
               rng.randrange(50_000), rng.randrange(1000), rng.randrange(100), rng.getrandbits(64))
        )
    return lines


# --- helpers ----------------------------------------------------------------------------------------
def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) used so far by process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Cpu:
    """CPU seconds of the server and of this process (the load generator, or chDB for (c)) over a block."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def __enter__(self) -> Cpu:
        self.s0 = process_cpu(self.pid) if self.pid else 0.0
        self.c0 = self_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server = (process_cpu(self.pid) if self.pid else 0.0) - self.s0
        self.client = self_cpu() - self.c0


def create_datasource(client: httpx.Client, name: str) -> None:
    r = client.post("/v0/datasources", data={"name": name, "schema": SCHEMA, "engine_sorting_key": SORTING_KEY})
    r.raise_for_status()


def row_count(client: httpx.Client, name: str) -> int:
    r = client.get(f"/v0/datasources/{name}")
    r.raise_for_status()
    return int(r.json()["statistics"]["row_count"])


def _pieces(body: bytes, size: int = 1 << 20) -> Any:
    view = memoryview(body)
    for i in range(0, len(view), size):
        yield view[i:i + size]


# --- (a) one append -----------------------------------------------------------------------------------
def run_append(srv: RoostServer, body: bytes, rows: int) -> tuple[float, Cpu]:
    name = "bench_append"
    assert srv.proc is not None
    with srv.admin() as client, Cpu(srv.proc.pid) as cpu:
        create_datasource(client, name)
        t0 = time.perf_counter()
        # 1 MB pieces with a Content-Length (as curl sends a file): httpx re-slices one big bytes
        # object on every socket write, which makes the client, not the server, the bottleneck
        r = client.post(f"/v0/datasources?mode=append&name={name}&format=ndjson", content=_pieces(body),
                        headers={"Content-Type": "application/x-ndjson", "Content-Length": str(len(body))},
                        timeout=600)
        elapsed = time.perf_counter() - t0
        r.raise_for_status()
        res = r.json()
        if res["successful_rows"] != rows or res["quarantined_rows"] != 0:
            raise SystemExit(f"(a) unexpected counts: {res['successful_rows']} ok, {res['quarantined_rows']} bad")
        if row_count(client, name) != rows:
            raise SystemExit("(a) row_count does not match")
    return elapsed, cpu


# --- (b) Events API -----------------------------------------------------------------------------------
async def _events_worker(host: str, port: int, requests: list[bytes], queue: asyncio.Queue[int],
                         errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            for _attempt in range(50):
                writer.write(requests[i])
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                if status in (200, 202):
                    break
                if status in (429, 503):
                    await asyncio.sleep(0.05)
                    continue
                errors.append(f"status {status}: {body[:200]!r}")
                return
    finally:
        writer.close()


async def _send_events(host: str, port: int, requests: list[bytes], connections: int) -> list[str]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(requests)):
        queue.put_nowait(i)
    errors: list[str] = []
    await asyncio.gather(*(_events_worker(host, port, requests, queue, errors) for _ in range(connections)))
    return errors


def run_events(srv: RoostServer, lines: list[bytes], batch: int, connections: int) -> tuple[float, Cpu]:
    name = "bench_events"
    token = srv.admin_token
    requests = []
    for i in range(0, len(lines), batch):
        body = b"".join(lines[i:i + batch])
        requests.append(
            f"POST /v0/events?name={name} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
            f"Authorization: Bearer {quote(token, safe='.-_')}\r\nContent-Type: application/x-ndjson\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
    assert srv.proc is not None
    with srv.admin() as client, Cpu(srv.proc.pid) as cpu:
        create_datasource(client, name)
        t0 = time.perf_counter()
        errors = asyncio.run(_send_events("127.0.0.1", srv.port, requests, connections))
        sent = time.perf_counter() - t0
        if errors:
            raise SystemExit(f"(b) {len(errors)} requests failed, first: {errors[0]}")
        deadline = time.monotonic() + 300
        while (n := row_count(client, name)) < len(lines):
            if time.monotonic() > deadline:
                raise SystemExit(f"(b) only {n} of {len(lines)} rows committed after 300 s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        if n != len(lines):
            raise SystemExit(f"(b) {n} rows committed, expected {len(lines)}")
    print(f"    (b) all requests acknowledged after {sent:.2f} s, committed after {elapsed:.2f} s", flush=True)
    return elapsed, cpu


# --- (c) chDB in-process ------------------------------------------------------------------------------
class RawChdb:
    def __init__(self, path: Path) -> None:
        import chdb

        self.conn = chdb.connect(str(path))
        self.conn.query("CREATE DATABASE IF NOT EXISTS bench")
        self.n = 0

    def run(self, body: bytes, rows: int) -> tuple[float, Cpu]:
        self.n += 1
        table = f"bench.t{self.n}"
        self.conn.query(f"CREATE TABLE {table} ({DDL_COLUMNS}) ENGINE = MergeTree ORDER BY ({SORTING_KEY})")
        with Cpu(None) as cpu:
            t0 = time.perf_counter()
            ins = self.conn.send_insert(f"INSERT INTO {table}", "JSONEachRow")
            ins.append(body)
            ins.finish()
            elapsed = time.perf_counter() - t0
        got = int(self.conn.query(f"SELECT count() FROM {table}", "TSV").bytes())
        if got != rows:
            raise SystemExit(f"(c) {got} rows, expected {rows}")
        self.conn.query(f"DROP TABLE {table} SYNC")
        return elapsed, cpu

    def close(self) -> None:
        self.conn.close()


# --- main ---------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=100, help="rows per Events API request")
    ap.add_argument("--connections", type=int, default=16, help="concurrent Events API connections")
    ap.add_argument("--only", default="abc", help="which of a, b, c to run (default: abc)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    lines = generate(args.rows)
    body = b"".join(lines)
    print(f"generated {args.rows:,} rows, {len(body) / 1e6:.1f} MB of NDJSON in {time.perf_counter() - t0:.1f} s",
          flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="roost-bench-ingest-"))
    results: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    cpus: dict[str, list[tuple[float, float]]] = {"a": [], "b": [], "c": []}

    def record(key: str, label: str, out: tuple[float, Cpu]) -> None:
        elapsed, cpu = out
        results[key].append(args.rows / elapsed)
        cpus[key].append((cpu.server, cpu.client))
        who = "chDB in this process" if key == "c" else f"server {cpu.server:.2f} s, load generator {cpu.client:.2f} s"
        print(f"    ({key}) {label:<22}{results[key][-1]:>12,.0f} rows/s   {elapsed:.2f} s   CPU: "
              f"{who if key != 'c' else f'{cpu.client:.2f} s ({who})'}", flush=True)

    raw: RawChdb | None = None
    try:
        if "c" in args.only:
            raw = RawChdb(tmp / "chdb")
        for run in range(1, args.runs + 1):
            print(f"run {run}/{args.runs}", flush=True)
            if raw is not None:
                record("c", "chDB send_insert", raw.run(body, args.rows))
            # each HTTP load gets a fresh server: (b) must not compete with the merges (a) leaves behind
            for key, label, load in (("a", "one append over HTTP", lambda srv: run_append(srv, body, args.rows)),
                                     ("b", "Events API",
                                      lambda srv: run_events(srv, lines, args.batch, args.connections))):
                if key not in args.only:
                    continue
                data_dir = tmp / f"roost-{run}-{key}"
                srv = RoostServer(data_dir).start()
                try:
                    record(key, label, load(srv))
                finally:
                    srv.stop()
                    shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        if raw is not None:
            raw.close()
        shutil.rmtree(tmp, ignore_errors=True)

    med: dict[str, Any] = {k: statistics.median(v) for k, v in results.items() if v}
    print()
    print(f"rows={args.rows:,} runs={args.runs} events: {args.batch}-row requests on {args.connections} connections")
    labels = {"a": "(a) one NDJSON append over HTTP", "b": "(b) Events API", "c": "(c) chDB send_insert in-process"}
    for k in "abc":
        if k in med:
            cpu_s = statistics.median(c[0] if k != "c" else c[1] for c in cpus[k])
            print(f"{labels[k]:<36} median {med[k]:>12,.0f} rows/s   runs: "
                  + ", ".join(f"{x:,.0f}" for x in results[k])
                  + f"   median CPU {'server' if k != 'c' else 'chDB'} {cpu_s:.2f} s")
    if "c" in med:
        for k, goal in (("a", 0.8), ("b", 0.5)):
            if k in med:
                print(f"ratio {k}/c = {med[k] / med['c']:.2f}   (goal >= {goal})")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
