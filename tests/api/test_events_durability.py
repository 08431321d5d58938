"""An acknowledged Events API row is never lost, and never doubled (issue 2 §5).

A fresh server gets Events API requests from a few threads; every row id answered with 202 or 200 is
recorded; the server is killed with SIGKILL mid-stream (or stopped, or killed after everything was
flushed) and restarted on the same data dir, several times. At the end every acknowledged id is in the
table exactly once, and no row is there twice.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.ingest.helpers import counts, create, ndjson, sql, wait_for
from tests.support.server import RoostServer

SCHEMA = "`id` UInt64 `json:$.id`, `sender` UInt8 `json:$.s`, `payload` String `json:$.p`"
NAME = "durable"


class Senders:
    """Threads that send ``per``-row requests with unique ids and record what was acknowledged."""

    def __init__(self, srv: RoostServer, base: int, threads: int = 4, per: int = 40, wait_every: int = 7) -> None:
        self.srv = srv
        self.base = base
        self.per = per
        self.wait_every = wait_every
        self.acked: set[int] = set()
        self.sent = 0
        self.requests = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,)) for k in range(threads)]

    def _run(self, k: int) -> None:
        token = self.srv.admin_token
        with httpx.Client(base_url=self.srv.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            i = 0
            while not self.stop.is_set():
                start = self.base + (k * 1_000_000) + i * self.per
                ids = list(range(start, start + self.per))
                body = ndjson([{"id": x, "s": k, "p": "x" * 50} for x in ids])
                params = {"name": NAME}
                if i % self.wait_every == self.wait_every - 1:
                    params["wait"] = "true"
                i += 1
                try:
                    r = c.post("/v0/events", params=params, content=body)
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code in (200, 202):
                    assert r.json() == {"successful_rows": self.per, "quarantined_rows": 0}, r.text
                    with self.lock:
                        self.acked.update(ids)
                        self.requests += 1

    def start(self) -> Senders:
        for t in self.threads:
            t.start()
        return self

    def wait_requests(self, n: int) -> None:
        assert wait_for(lambda: self.requests >= n, timeout=60), f"only {self.requests} requests acknowledged"

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def _check(srv: RoostServer, acked: set[int]) -> None:
    with srv.admin() as admin:
        # replay happens before the server answers; later rows of a running server within a flush
        assert wait_for(lambda: counts(admin, NAME)[0] >= len(acked), timeout=60), (counts(admin, NAME), len(acked))
        stats = sql(admin, f"SELECT count() AS n, uniqExact(id) AS u FROM {NAME}")[0]
        assert stats["n"] == stats["u"], f"duplicated rows: {stats}"
        present = {int(r["id"]) for r in sql(admin, f"SELECT id FROM {NAME}")}
        missing = acked - present
        assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {sorted(missing)[:5]}"
        assert counts(admin, NAME)[1] == 0


@pytest.mark.parametrize("kill_after", [40, 250])
def test_acknowledged_rows_survive_kill9(tmp_path: Path, kill_after: int) -> None:
    data = tmp_path / "data"
    srv = RoostServer(data).start()
    acked: set[int] = set()
    try:
        with srv.admin() as admin:
            create(admin, NAME, SCHEMA, engine_sorting_key="id")

        # 1. kill -9 mid-stream
        s = Senders(srv, base=0).start()
        s.wait_requests(kill_after)
        srv.kill9()
        s.join()
        acked |= s.acked
        srv = RoostServer(data).start()
        _check(srv, acked)

        # 2. a clean stop, then a restart: the log starts again; nothing may collide with old batches
        s = Senders(srv, base=10_000_000).start()
        s.wait_requests(kill_after // 2)
        s.join()
        acked |= s.acked
        srv.stop()
        srv = RoostServer(data).start()
        _check(srv, acked)

        # 3. kill -9 once everything was flushed, then new rows after the restart
        s = Senders(srv, base=20_000_000).start()
        s.wait_requests(20)
        s.join()
        acked |= s.acked
        with srv.admin() as admin:
            assert wait_for(lambda: counts(admin, NAME)[0] >= len(acked), timeout=60)
        srv.kill9()
        srv = RoostServer(data).start()
        s = Senders(srv, base=30_000_000).start()
        s.wait_requests(kill_after)
        srv.kill9()
        s.join()
        acked |= s.acked
        srv = RoostServer(data).start()
        _check(srv, acked)
    finally:
        srv.stop()
