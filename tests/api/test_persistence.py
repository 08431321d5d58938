"""Everything survives a restart; the catalog also runs on PostgreSQL (issue 2 §2); admin refresh
invalidates JWTs and last_used_at is recorded (issue 3 §5, §7)."""

from __future__ import annotations

import time
from pathlib import Path

import jwt as pyjwt
import pytest

from tests.support.data import create_events, create_pipe, sql
from tests.support.server import RoostServer, wait_until


@pytest.mark.parametrize("catalog", ["sqlite", "postgresql"])
def test_everything_survives_a_restart(tmp_path: Path, catalog: str, request: pytest.FixtureRequest) -> None:
    env = {}
    if catalog == "postgresql":
        env["ROOST_CATALOG_URL"] = request.getfixturevalue("pg_url")
    srv = RoostServer(tmp_path / "data", env=env).start()
    try:
        with srv.admin() as admin:
            ws = admin.get("/v0/workspace").json()
            create_events(admin, "ev", users=3, per_user=4)
            create_pipe(admin, "per_user", "SELECT user_id, count() AS n FROM ev GROUP BY user_id ORDER BY user_id")
            tok = admin.post("/v0/tokens", params={"name": "u1", "scope": ["PIPES:READ:per_user",
                                                                          "DATASOURCES:READ:ev:user_id = 1"]}).json()
        admin_token = srv.admin_token
        srv.stop()
        if catalog == "postgresql":
            assert not (tmp_path / "data" / "catalog.db").exists()
        srv.start()
        assert srv.admin_token == admin_token
        with srv.admin() as admin:
            assert admin.get("/v0/workspace").json()["id"] == ws["id"]
            assert admin.get("/v0/datasources/ev").json()["statistics"]["row_count"] == 12
            assert sql(admin, "SELECT count() AS c FROM ev").json()["data"] == [{"c": 12}]
        with srv.client(tok["token"]) as c:
            assert c.get("/v0/pipes/per_user.json").json()["data"] == [{"user_id": 1, "n": 4}]
    finally:
        srv.stop()


def test_admin_refresh_invalidates_jwts(tmp_path: Path) -> None:
    srv = RoostServer(tmp_path / "data").start()
    try:
        with srv.admin() as admin:
            create_events(admin, "ev", users=2, per_user=2)
            ws = admin.get("/v0/workspace").json()["id"]
            claims = {"workspace_id": ws, "name": "j", "exp": int(time.time()) + 600,
                      "scopes": [{"type": "DATASOURCES:READ", "resource": "ev", "filter": "user_id = 1"}]}
            old = pyjwt.encode(claims, srv.admin_token, algorithm="HS256")
            with srv.client(old) as c:
                assert sql(c, "SELECT count() FROM ev").status_code == 200
            admin_id = next(t["id"] for t in admin.get("/v0/tokens").json()["tokens"]
                            if any(s["type"] == "ADMIN" for s in t["scopes"]))
            new_admin = admin.post(f"/v0/tokens/{admin_id}/refresh").json()["token"]
        assert srv.admin_token == new_admin  # the admin-token file follows the refresh
        with srv.client(old) as c:
            assert sql(c, "SELECT count() FROM ev").status_code == 403
        with srv.client(pyjwt.encode(claims, new_admin, algorithm="HS256")) as c:
            assert sql(c, "SELECT count() FROM ev").status_code == 200
    finally:
        srv.stop()


def test_last_used_at_is_recorded(server: RoostServer, unique: str) -> None:
    with server.admin() as admin:
        tok = admin.post("/v0/tokens", params={"name": unique, "scope": "PIPES:CREATE"}).json()
        assert tok["last_used_at"] is None
        with server.client(tok["token"]) as c:
            assert c.get("/v0/workspace").status_code == 200
        seen = wait_until(lambda: admin.get(f"/v0/tokens/{unique}").json()["last_used_at"], 10)
        assert seen and seen.startswith("20")
