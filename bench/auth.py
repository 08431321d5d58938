"""Auth micro-benchmarks: median µs per operation over several runs. No pass/fail.

    .venv/bin/python bench/auth.py [--runs 7] [-n 20000]

Targets (docs): cached static token <= 10 µs, JWT <= 50 µs uncached, cached JWT far less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roost.auth.jwt import mint_jwt, verify_jwt  # noqa: E402
from roost.auth.ratelimit import RateLimiter  # noqa: E402
from roost.auth.values import check_value, mint_value, value_hash  # noqa: E402
from roost.auth.verifier import TokenVerifier  # noqa: E402
from roost.catalog import open_catalog  # noqa: E402

SECRET = b"bench-secret-bench-secret-bench-secret"
WS = str(uuid.uuid4())


def per_op_us(fn: Callable[[], object], n: int, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("-n", type=int, default=20_000)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        cat = open_catalog(f"sqlite:///{d}/c.db")
        cat.create_workspace(WS, "bench", "bench")
        tokens = {}
        for name, scopes in [
            ("Workspace admin token", [{"type": "ADMIN"}]),
            ("reader", [{"type": "DATASOURCES:READ", "resource": "events", "filter": "org = 'a'"}]),
        ]:
            value = mint_value(WS, SECRET)
            cat.create_token(
                {
                    "id": str(uuid.uuid4()),
                    "name": name,
                    "value": value,
                    "value_hash": value_hash(value),
                    "scopes": scopes,
                }
            )
            tokens[name] = value
        admin = tokens["Workspace admin token"]
        reader = tokens["reader"]
        jwt_token = mint_jwt(
            workspace_id=WS,
            signing_key=admin,
            name="tenant_42",
            scopes=[{"type": "PIPES:READ", "resource": "top_pages", "fixed_params": {"org": "acme"}}],
            expiration_time=int(time.time()) + 3600,
            limits={"rps": 100},
        )
        v = TokenVerifier(cat, SECRET)
        v.authenticate(reader)
        v.authenticate(jwt_token)

        def uncached_static() -> None:
            v.invalidate()
            v.authenticate(reader)

        rl = RateLimiter()
        n, runs = args.n, args.runs
        results = [
            ("static token, cached (authenticate)", per_op_us(lambda: v.authenticate(reader), n, runs)),
            ("JWT, cached (authenticate)", per_op_us(lambda: v.authenticate(jwt_token), n, runs)),
            (
                "JWT, uncached (verify_jwt)",
                per_op_us(
                    lambda: verify_jwt(jwt_token, workspace_id=WS, signing_key=admin),
                    max(1, args.n // 4),
                    args.runs,
                ),
            ),
            (
                "static token, uncached (SQLite read)",
                per_op_us(uncached_static, max(1, args.n // 20), args.runs),
            ),
            ("HMAC check of a static value", per_op_us(lambda: check_value(reader, SECRET), n, runs)),
            ("rate limiter check", per_op_us(lambda: rl.check("k", 1_000_000_000), n, runs)),
        ]
        v.close()
        cat.close()

    width = max(len(k) for k, _ in results)
    print(f"median of {args.runs} runs")
    for k, us in results:
        print(f"{k:<{width}}  {us:8.2f} µs")


if __name__ == "__main__":
    main()
