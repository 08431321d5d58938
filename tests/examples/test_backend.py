"""The four token flows, end to end, through examples/backend (issue 3 §8, issue 6 §4).

Sign-up creates ``user_<id>`` reading only its rows; a permission change narrows the filter; removal
makes the value stop working; a refresh gives a new value and the old one stops working.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.support.data import create_events, create_pipe
from tests.support.server import RoostServer

ROOT = Path(__file__).resolve().parents[2]


def _load_backend():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("roost_example_backend", ROOT / "examples/backend/backend.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    srv = RoostServer(tmp_path_factory.mktemp("backend") / "data").start()
    with srv.admin() as admin:
        create_events(admin, "events", users=50, per_user=12)
        create_pipe(admin, "ecommerce_example",
                    "SELECT user_id, event_type, count() AS n FROM events GROUP BY user_id, event_type "
                    "ORDER BY user_id, event_type")
    yield srv
    srv.stop()


def _users(srv: RoostServer, token: str) -> tuple[int, set[int], set[str]]:
    with srv.client(token) as c:
        r = c.get("/v0/pipes/ecommerce_example.json")
    if r.status_code != 200:
        return r.status_code, set(), set()
    data = r.json()["data"]
    return 200, {row["user_id"] for row in data}, {row["event_type"] for row in data}


def test_four_flows(demo_server: RoostServer) -> None:
    mod = _load_backend()
    backend = mod.RoostTokens(demo_server.url, demo_server.admin_token)
    token = backend.sign_up(42)
    status, users, types = _users(demo_server, token)
    assert (status, users) == (200, {42})
    assert types == {"view", "cart", "purchase"}

    backend.change_permissions(42, "event_type = 'purchase'")
    status, users, types = _users(demo_server, token)
    assert (status, users, types) == (200, {42}, {"purchase"})

    new = backend.refresh(42)
    assert new != token
    assert _users(demo_server, token)[0] == 403
    assert _users(demo_server, new)[:2] == (200, {42})

    backend.remove(42)
    assert _users(demo_server, new)[0] == 403


def test_example_main_runs(demo_server: RoostServer, capsys: pytest.CaptureFixture[str]) -> None:
    mod = _load_backend()
    assert mod.main(["--host", demo_server.url, "--admin-token", demo_server.admin_token, "--user", "7"]) == 0
    out = capsys.readouterr().out
    assert "removed:   value -> HTTP 403" in out
