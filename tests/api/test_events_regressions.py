"""Regression: a batch whose bad rows hold tabs or backslashes used to fail forever and block every
later Events API request (the error diagnosis passed raw rows as query parameters unescaped).

Invariant: bad rows go to the quarantine with a reason, and the rows that follow still land.
"""

from __future__ import annotations

import httpx

from tests.support.server import RoostServer, wait_until


def _counts(admin: httpx.Client, name: str) -> tuple[int, int]:
    d = admin.get(f"/v0/datasources/{name}").json()
    return d["statistics"]["row_count"], d["quarantine_rows"]


def test_bad_rows_with_tabs_do_not_block_later_events(server: RoostServer, unique: str) -> None:
    with server.admin() as admin:
        schema = "`n` Int32 `json:$.n`, `s` String `json:$.s`"
        r = admin.post("/v0/datasources", data={"name": unique, "schema": schema})
        assert r.status_code == 200, r.text
        bad = b'{"n": "%d\\t", "s": "x"}\n{"n": 1, "s": "tab\there"}\n{"n": "a\\\\b\\n", "s": "y"}\n\t%d\t\n'
        assert admin.post("/v0/events", params={"name": unique}, content=bad).status_code == 202
        for i in range(5):
            body = f'{{"n": {i}, "s": "ok"}}\n'.encode()
            assert admin.post("/v0/events", params={"name": unique}, content=body).status_code == 202
        # 4 bad lines (a raw tab inside a JSON string is invalid JSON too) and 5 good ones
        got = wait_until(lambda: _counts(admin, unique) == (5, 4) and (5, 4), 30) or _counts(admin, unique)
        assert got == (5, 4)
        q = admin.get("/v0/sql", params={"q": f"SELECT c__raw, c__error FROM {unique}_quarantine FORMAT JSON"})
        raws = {row["c__raw"] for row in q.json()["data"]}
        assert '\t%d\t' in raws and all(row["c__error"] for row in q.json()["data"])
