"""One enforcement point: every route, every kind of caller (issue 3 §4).

``EXPECTED`` lists, for every registered route and method, which callers may pass the auth check.
A route that is registered but missing here fails ``test_every_route_is_in_the_matrix``; a caller
outside the allowed set must get 403, a caller inside it must not (and nothing may give a 5xx).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import jwt as pyjwt
import pytest

from roost.api import load_routes
from roost.api.routing import ROUTES
from tests.support.data import create_events, create_pipe
from tests.support.server import RoostServer

CALLERS = ("none", "garbage", "admin", "tokens", "read", "append", "jwt", "jwt_expired")
STATIC = {"admin", "tokens", "read", "append"}
ALL_VALID = STATIC | {"jwt"}

# (path template, method) -> callers allowed past authorization
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("/v0/workspace", "GET"): STATIC,
    ("/v1/workspace", "GET"): STATIC,
    ("/v0/user/workspaces/", "GET"): STATIC,
    ("/v0/regions", "GET"): set(CALLERS),
    ("/healthz", "GET"): set(CALLERS),
    ("/v0/datasources", "GET"): STATIC,
    ("/v0/datasources", "POST"): {"admin"},
    ("/v0/datasources/{name}", "GET"): {"admin", "read"},
    ("/v0/datasources/{name}", "PUT"): {"admin"},
    ("/v0/datasources/{name}", "DELETE"): {"admin"},
    ("/v1/datasources/{name}/append", "POST"): {"admin", "append"},
    ("/v0/datasources/{name}/truncate", "POST"): {"admin"},
    ("/v0/datasources/{name}/delete", "POST"): {"admin"},
    ("/v0/datasources/{name}/alter", "POST"): {"admin"},
    ("/v0/events", "POST"): {"admin", "append"},
    ("/v0/jobs", "GET"): {"admin"},
    ("/v0/jobs/{job_id}", "GET"): {"admin"},
    ("/v0/tokens", "GET"): {"admin", "tokens"},
    ("/v0/tokens/", "GET"): {"admin", "tokens"},
    ("/v0/tokens", "POST"): {"admin", "tokens"},
    ("/v0/tokens/", "POST"): {"admin", "tokens"},
    ("/v0/tokens/{name}", "GET"): {"admin", "tokens"},
    ("/v0/tokens/{name}", "PUT"): {"admin", "tokens"},
    ("/v0/tokens/{name}", "DELETE"): {"admin", "tokens"},
    ("/v0/tokens/{name}/refresh", "POST"): {"admin", "tokens"},
    ("/v0/tokens/{name}/refresh", "GET"): {"admin", "tokens"},
    ("/v0/tokens/{name}/audit", "GET"): {"admin", "tokens"},
    ("/v0/audit", "GET"): {"admin"},
    ("/v0/sql", "GET"): ALL_VALID,
    ("/v0/sql", "POST"): ALL_VALID,
    ("/v0/sql_tables", "GET"): STATIC,
    ("/v0/sql_tables", "POST"): STATIC,
    ("/v0/pipes", "GET"): STATIC,
    ("/v0/pipes", "POST"): {"admin"},
    ("/v0/pipes/openapi.json", "GET"): ALL_VALID,
    ("/v0/pipes/{name}.pipe", "GET"): {"admin"},
    ("/v1/pipes/{name}.pipe", "GET"): {"admin"},
    ("/v0/pipes/{name}.{fmt}", "GET"): {"admin", "read", "jwt"},
    ("/v0/pipes/{name}.{fmt}", "POST"): {"admin", "read", "jwt"},
    ("/v0/pipes/{name}", "GET"): {"admin", "read"},
    ("/v0/pipes/{name}", "DELETE"): {"admin"},
    ("/v0/pipes/{name}/nodes", "POST"): {"admin"},
    ("/v0/pipes/{name}/nodes/{node}", "PUT"): {"admin"},
    ("/v0/pipes/{name}/nodes/{node}", "DELETE"): {"admin"},
    ("/v0/pipes/{name}/nodes/{node}/endpoint", "POST"): {"admin"},
    ("/v0/pipes/{name}/nodes/{node}/endpoint", "DELETE"): {"admin"},
    ("/v0/pipes/{name}/stats", "GET"): {"admin", "read"},
}
# Routes of the web UI serve static pages to anyone: the UI signs in with a token in the browser.
UI_PREFIXES = ("/ui", "/")


def _routes() -> list[tuple[str, str]]:
    load_routes()
    out = []
    for spec in ROUTES:
        for m in spec.methods:
            if m != "HEAD":
                out.append((spec.path, m))
    return out


def test_every_route_is_in_the_matrix() -> None:
    missing = [r for r in _routes() if r not in EXPECTED and not _is_ui(r[0])]
    assert not missing, f"routes without an entry in the authorization matrix: {missing}"
    for spec in ROUTES:
        assert spec.requires is not None


def _is_ui(path: str) -> bool:
    return path == "/" or path.startswith("/ui")


@pytest.fixture(scope="module")
def world(server: RoostServer) -> Iterator[dict[str, str]]:
    with server.admin() as admin:
        create_events(admin, "mx_events", users=3, per_user=3)
        create_pipe(admin, "mx_pipe", "SELECT user_id, count() AS n FROM mx_events GROUP BY user_id")

        def mk(name: str, scopes: list[str]) -> str:
            r = admin.post("/v0/tokens", params={"name": name, "scope": scopes})
            assert r.status_code == 200, r.text
            return str(r.json()["token"])

        ws = admin.get("/v0/workspace").json()["id"]
        claims = {"workspace_id": ws, "name": "mx_jwt",
                  "scopes": [{"type": "PIPES:READ", "resource": "mx_pipe"},
                             {"type": "DATASOURCES:READ", "resource": "mx_events", "filter": "user_id = 1"}]}
        yield {
            "none": "",
            "garbage": "p.garbage.value",
            "admin": server.admin_token,
            "tokens": mk("mx_tokens", ["TOKENS"]),
            "read": mk("mx_read", ["DATASOURCES:READ:mx_events:user_id = 1", "PIPES:READ:mx_pipe"]),
            "append": mk("mx_append", ["DATASOURCES:APPEND:mx_events"]),
            "jwt": pyjwt.encode({**claims, "exp": int(time.time()) + 3600}, server.admin_token, algorithm="HS256"),
            "jwt_expired": pyjwt.encode({**claims, "exp": int(time.time()) - 60}, server.admin_token,
                                        algorithm="HS256"),
        }


# Path parameters: reads target resources that exist; destructive routes target names that do not,
# so an allowed caller gets 404 and nothing is destroyed while the matrix runs.
PARAMS = {"name": "mx_events", "job_id": "00000000-0000-0000-0000-000000000000", "node": "ghost_node",
          "fmt": "json"}
DESTRUCTIVE = {("/v0/datasources/{name}", "DELETE"), ("/v0/datasources/{name}/truncate", "POST"),
               ("/v0/datasources/{name}/delete", "POST"), ("/v0/datasources/{name}/alter", "POST"),
               ("/v0/datasources/{name}", "PUT"), ("/v0/pipes/{name}", "DELETE")}


def _url(path: str, method: str) -> tuple[str, dict[str, str]]:
    params = dict(PARAMS)
    query: dict[str, str] = {}
    if path.startswith("/v0/pipes/{name}") or path.startswith("/v1/pipes/{name}"):
        params["name"] = "mx_pipe"
    if path.startswith("/v0/tokens/{name}"):
        params["name"] = "mx_ghost_token"
    if (path, method) in DESTRUCTIVE:
        params["name"] = "ghost_ds" if "datasources" in path else "ghost_pipe"
    if path == "/v0/events":
        query = {"name": "mx_events"}
    if path in ("/v0/sql", "/v0/sql_tables"):
        query = {"q": "SELECT 1"}
    if path == "/v0/datasources" and method == "POST":
        query = {"mode": "create"}
    url = path
    for k, v in params.items():
        url = url.replace("{" + k + "}", v)
    return url, query


@pytest.mark.parametrize("caller", CALLERS)
def test_matrix(server: RoostServer, world: dict[str, str], caller: str) -> None:
    failures = []
    for path, method in _routes():
        if _is_ui(path):
            continue
        url, query = _url(path, method)
        headers = {"Authorization": f"Bearer {world[caller]}"} if world[caller] else {}
        body = b'{"user_id": 1}\n' if path in ("/v0/events", "/v1/datasources/{name}/append") else None
        r = httpx.request(method, server.url + url, params=query, headers=headers, content=body, timeout=30)
        allowed = caller in EXPECTED[(path, method)]
        if r.status_code >= 500:
            failures.append(f"{method} {path} as {caller}: {r.status_code} {r.text[:200]}")
        elif allowed and r.status_code == 403:
            failures.append(f"{method} {path} as {caller}: 403 but should be allowed: {r.text[:200]}")
        elif not allowed and r.status_code != 403:
            failures.append(f"{method} {path} as {caller}: {r.status_code} but should be 403")
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/json"), (method, path, caller)
            assert "error" in r.json()
    assert not failures, "\n".join(failures)
