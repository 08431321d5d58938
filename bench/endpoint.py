"""Endpoint benchmark (issue 5): Roost against a bare ASGI app running the same final SQL.

Builds ``events`` with 10,000,000 rows over 100,000 users sorted by (user_id, timestamp), then for
two endpoints — a per-user one (``GROUP BY event_type``, ~100 rows per call) and a per-tenant one
(1,000 consecutive users, ~100,000 rows per call, grouped by day and event type) — drives:

  (a) Roost with static tokens carrying ``DATASOURCES:READ:events:<filter>``, many different users;
  (b) Roost with JWTs carrying the same filter;
  (c) the baseline (bench/baseline_app.py) running the SQL Roost generates, on the same chDB data,

at 1 and 32 connections. Prints req/s, p50 and p99 for each, and the ratios a/c and b/c (median of
``--runs``). Goals: throughput >= 0.9 x baseline, p50 <= 1.15 x baseline.

    .venv/bin/python bench/endpoint.py [--rows 10000000] [--users 100000] [--seconds 5] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import jwt as pyjwt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.loadgen import median, request_bytes, run  # noqa: E402
from tests.support.server import RoostServer, free_port  # noqa: E402

SCHEMA = ("`timestamp` DateTime `json:$.timestamp`, `user_id` UInt32 `json:$.user_id`, "
          "`event_type` LowCardinality(String) `json:$.event_type`, `price` Float64 `json:$.price`")
ENDPOINTS = {
    "user": "SELECT event_type, count() AS n, sum(price) AS revenue FROM events GROUP BY event_type",
    "tenant": ("SELECT toDate(timestamp) AS day, event_type, count() AS n, sum(price) AS revenue FROM events "
               "GROUP BY day, event_type ORDER BY day, event_type"),
}
FILTERS = {"user": "user_id = {a}", "tenant": "user_id >= {a} AND user_id <= {b}"}
GENERATE = """
INSERT INTO {table} (timestamp, user_id, event_type, price)
SELECT toDateTime('2026-01-01 00:00:00') + (cityHash64(number, 't') % 7776000) AS timestamp,
       toUInt32(1 + intDiv(number, {per_user})) AS user_id,
       ['view','view','view','cart','purchase','search','click','share'][1 + cityHash64(number, 'e') % 8],
       round((cityHash64(number, 'p') % 20000) / 100, 2)
FROM numbers({rows})
"""


def build(data_dir: Path, rows: int, users: int) -> tuple[str, str]:
    """Create events + the two pipes through Roost, then fill the table in-process with chDB."""
    srv = RoostServer(data_dir).start()
    with srv.admin() as admin:
        r = admin.post("/v0/datasources", data={"name": "events", "schema": SCHEMA,
                                                 "engine_sorting_key": "user_id, timestamp"})
        r.raise_for_status()
        ds_id = r.json()["datasource"]["id"]
        for kind, sql in ENDPOINTS.items():
            admin.post("/v0/pipes", json={"name": f"per_{kind}", "nodes": [
                {"name": "endpoint", "type": "endpoint", "sql": sql}]}).raise_for_status()
    srv.stop()
    db = sqlite3.connect(data_dir / "catalog.db").execute("SELECT database FROM roost_workspaces").fetchone()[0]
    table = f"{db}.`{ds_id}`"
    code = (
        "import chdb,sys; c=chdb.connect(sys.argv[1]); "
        f"c.query({GENERATE.format(table=table, rows=rows, per_user=max(1, rows // users))!r}); "
        f"c.query('OPTIMIZE TABLE {table} FINAL'); c.close()"
    )
    subprocess.run([sys.executable, "-c", code, str(data_dir / "engine")], check=True)
    return db, table


def compiled_sql(db: str, table: str, kind: str) -> str:
    """The SQL Roost runs for a filtered caller of this endpoint (from Roost's own compiler)."""
    from roost.sql.compiler import Relation, compile_select

    sentinel = FILTERS[kind].format(a=987654321, b=987654322)

    class R:
        def resolve(self, name: str, database: str | None) -> Relation | None:
            if name == "events":
                return Relation(name="events", kind="datasource", physical=table, filter=sentinel)
            return None

    c = compile_select(ENDPOINTS[kind], R())  # type: ignore[arg-type]
    text = c.sql.replace("{", "{{").replace("}", "}}")
    return text.replace("987654321", "{a}").replace("987654322", "{b}")


def settings_clause(table: str, kind: str) -> str:
    """The settings Roost sends with this query, including the same filter as additional_table_filters."""
    flt = FILTERS[kind]
    return (" SETTINGS allow_introspection_functions=0, readonly=1, max_execution_time=10, "
            f"additional_table_filters={{{{'{table.replace('`', '')}': '{flt}'}}}}, "
            "max_result_bytes=104857600, result_overflow_mode='throw', max_memory_usage=4294967296, "
            "output_format_json_quote_64bit_integers=0, output_format_json_quote_denormals=0, "
            "exact_rows_before_limit=1")


def pick(kind: str, users: int, rnd: random.Random) -> int:
    if kind == "user":
        return rnd.randint(1, users)
    return 1 + 1000 * rnd.randrange(max(1, users // 1000))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--tokens", type=int, default=2000, help="static tokens created per endpoint")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--connections", default="1,32")
    args = ap.parse_args()
    conns = [int(x) for x in args.connections.split(",")]
    work = Path(tempfile.mkdtemp(prefix="roost-bench-endpoint-"))
    data_dir = work / "data"
    try:
        print(f"building {args.rows:,} rows over {args.users:,} users ...", flush=True)
        db, table = build(data_dir, args.rows, args.users)
        results: dict[tuple[str, str, int], list[tuple[float, float, float]]] = {}
        # static tokens (created once), JWTs (signed here)
        srv = RoostServer(data_dir).start()
        static: dict[str, dict[int, str]] = {}
        with srv.admin() as admin:
            ws = admin.get("/v0/workspace").json()["id"]
            for kind in ENDPOINTS:
                static[kind] = {}
                rnd = random.Random(7)
                for _ in range(args.tokens):
                    n = pick(kind, args.users, rnd)
                    if n in static[kind]:
                        continue
                    flt = FILTERS[kind].format(a=n, b=n + 999)
                    r = admin.post("/v0/tokens", params={
                        "name": f"b_{kind}_{n}", "scope": [f"PIPES:READ:per_{kind}", f"DATASOURCES:READ:events:{flt}"]})
                    r.raise_for_status()
                    static[kind][n] = r.json()["token"]
            admin_token = srv.admin_token
        srv.stop()

        def jwt_for(kind: str, n: int) -> str:
            return pyjwt.encode({"workspace_id": ws, "name": f"j{kind}{n}", "exp": int(time.time()) + 3600,
                                 "scopes": [{"type": "PIPES:READ", "resource": f"per_{kind}"},
                                            {"type": "DATASOURCES:READ", "resource": "events",
                                             "filter": FILTERS[kind].format(a=n, b=n + 999)}]},
                                admin_token, algorithm="HS256")

        jwts = {kind: {n: jwt_for(kind, n) for n in static[kind]} for kind in ENDPOINTS}
        sql = {kind: compiled_sql(db, table, kind) for kind in ENDPOINTS}
        for rep in range(args.runs):
            srv = RoostServer(data_dir).start()
            host = f"127.0.0.1:{srv.port}"
            for kind in ENDPOINTS:
                keys = list(static[kind])
                for label, toks in (("a_static", static[kind]), ("b_jwt", jwts[kind])):
                    def make(rnd: random.Random, toks=toks, keys=keys, kind=kind,  # type: ignore[misc]
                             host=host) -> bytes:
                        return request_bytes(f"/v0/pipes/per_{kind}.json", host, toks[rnd.choice(keys)])

                    for c in conns:
                        r = run("127.0.0.1", srv.port, make, connections=c, seconds=args.seconds)
                        results.setdefault((kind, label, c), []).append((r.rps, r.p50, r.p99))
                        print(f"run {rep + 1} {kind:6} {label:8} c={c:<3} {r.rps:8.1f} req/s  p50 {r.p50:6.2f} ms"
                              f"  p99 {r.p99:7.2f} ms  errors {r.errors}", flush=True)
            srv.stop()
            port = free_port()
            env = {**os.environ, "BASELINE_PATH": str(data_dir / "engine"), "BASELINE_SQL": json.dumps(
                {k: v + settings_clause(table, k) for k, v in sql.items()})}
            proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.baseline_app:app", "--port", str(port),
                                     "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"],
                                    cwd=ROOT, env=env)
            try:
                for _ in range(300):
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
                host = f"127.0.0.1:{port}"
                for kind in ENDPOINTS:
                    keys = list(static[kind])

                    def makeb(rnd: random.Random, kind=kind, keys=keys, host=host) -> bytes:  # type: ignore[misc]
                        return request_bytes(f"/q/{kind}/{rnd.choice(keys)}", host)

                    for c in conns:
                        r = run("127.0.0.1", port, makeb, connections=c, seconds=args.seconds)
                        results.setdefault((kind, "c_base", c), []).append((r.rps, r.p50, r.p99))
                        print(f"run {rep + 1} {kind:6} {'c_base':8} c={c:<3} {r.rps:8.1f} req/s  p50 {r.p50:6.2f} ms"
                              f"  p99 {r.p99:7.2f} ms  errors {r.errors}", flush=True)
            finally:
                proc.terminate()
                proc.wait(30)
        print("\nmedians (req/s, p50 ms, p99 ms) and ratios against the baseline:")
        for kind in ENDPOINTS:
            for c in conns:
                base = results[(kind, "c_base", c)]
                b_rps, b_p50 = median([x[0] for x in base]), median([x[1] for x in base])
                print(f"{kind:6} c={c:<3} c_base  {b_rps:8.1f} req/s  p50 {b_p50:6.2f}  p99 "
                      f"{median([x[2] for x in base]):7.2f}")
                for label in ("a_static", "b_jwt"):
                    xs = results[(kind, label, c)]
                    rps, p50 = median([x[0] for x in xs]), median([x[1] for x in xs])
                    print(f"{kind:6} c={c:<3} {label:8}{rps:8.1f} req/s  p50 {p50:6.2f}  p99 "
                          f"{median([x[2] for x in xs]):7.2f}   throughput {rps / b_rps:5.2f}x  "
                          f"p50 {p50 / b_p50:5.2f}x")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
