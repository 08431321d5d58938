"""Tokens API (issue 3): CRUD, validation, refresh/delete take effect at once, audit, JWTs."""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest

from tests.support.data import create_events, sql
from tests.support.server import RoostServer


@pytest.fixture(scope="module")
def ds(server: RoostServer) -> str:
    with server.admin() as admin:
        name = "tok_events"
        create_events(admin, name)
        return name


def test_create_get_list_and_value_format(admin, ds, unique):  # type: ignore[no-untyped-def]
    r = admin.post("/v0/tokens", params={"name": unique, "scope": [f"DATASOURCES:READ:{ds}:user_id = 2",
                                                                    f"DATASOURCES:APPEND:{ds}"]})
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["token"].startswith("p.eyJ1IjogI")  # base64 of {"u": "
    assert {"type": "DATASOURCES:READ", "resource": ds, "filter": "user_id = 2"} in tok["scopes"]
    assert {"type": "DATASOURCES:APPEND", "resource": ds} in tok["scopes"]
    assert admin.get(f"/v0/tokens/{unique}").json()["token"] == tok["token"]
    assert admin.get(f"/v0/tokens/{tok['id']}").json()["name"] == unique
    names = [t["name"] for t in admin.get("/v0/tokens").json()["tokens"]]
    assert unique in names
    assert all("token" in t for t in admin.get("/v0/tokens").json()["tokens"])


def test_filter_with_colons_and_quotes(admin, ds, unique):  # type: ignore[no-untyped-def]
    r = admin.post("/v0/tokens", params={"name": unique, "scope": f"DATASOURCES:READ:{ds}:event_type = 'a:b'"})
    assert r.status_code == 200, r.text
    assert r.json()["scopes"][0]["filter"] == "event_type = 'a:b'"


@pytest.mark.parametrize(
    "scope,fragment",
    [
        ("NOPE:X", "Unknown scope"),
        ("PIPES:DROP", "requires a resource"),
        ("DATASOURCES:APPEND:{ds}:user_id = 1", "READ"),
        ("DATASOURCES:READ:no_such_ds", "not found"),
        ("PIPES:READ:no_such_pipe", "not found"),
        ("DATASOURCES:READ:{ds}:no_such_column = 1", "no_such_column"),
        ("DATASOURCES:READ:{ds}:user_id IN (SELECT 1)", ""),
        ("DATASOURCES:READ:{ds}:file('/etc/passwd') != ''", "file"),
        ("DATASOURCES:READ:{ds}:user_id = 1; DROP TABLE x", ""),
        ("DATASOURCES:READ:{ds}:user_id = ", ""),
    ],
)
def test_bad_scopes_are_400(admin, ds, unique, scope, fragment):  # type: ignore[no-untyped-def]
    r = admin.post("/v0/tokens", params={"name": unique, "scope": scope.format(ds=ds)})
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) >= {"error", "documentation"}
    assert fragment in body["error"]


def test_missing_name_and_scope(admin):  # type: ignore[no-untyped-def]
    assert admin.post("/v0/tokens", params={"scope": "ADMIN"}).status_code == 400
    assert admin.post("/v0/tokens", params={"name": "noscope"}).status_code == 400


def test_only_admin_grants_admin(admin, server, unique):  # type: ignore[no-untyped-def]
    tk = admin.post("/v0/tokens", params={"name": unique, "scope": "TOKENS"}).json()["token"]
    with server.client(tk) as c:
        r = c.post("/v0/tokens", params={"name": unique + "_2", "scope": "ADMIN"})
        assert r.status_code == 400
        assert "ADMIN" in r.json()["error"]
        # TOKENS may create ordinary tokens
        assert c.post("/v0/tokens", params={"name": unique + "_3", "scope": "PIPES:CREATE"}).status_code == 200
        # ... but never see or touch the admin token's value
        listed = c.get("/v0/tokens").json()["tokens"]
        admin_tok = next(t for t in listed if any(s["type"] == "ADMIN" for s in t["scopes"]))
        assert "token" not in admin_tok
        assert c.post(f"/v0/tokens/{admin_tok['id']}/refresh").status_code == 403
        assert c.delete(f"/v0/tokens/{admin_tok['id']}").status_code == 403


def test_read_token_refused_on_tokens_api(admin, server, ds, unique):  # type: ignore[no-untyped-def]
    tk = admin.post("/v0/tokens", params={"name": unique, "scope": f"DATASOURCES:READ:{ds}"}).json()["token"]
    with server.client(tk) as c:
        for method, path in [("GET", "/v0/tokens"), ("POST", "/v0/tokens?name=zz&scope=ADMIN"),
                             ("GET", f"/v0/tokens/{unique}"), ("PUT", f"/v0/tokens/{unique}?scope=ADMIN"),
                             ("DELETE", f"/v0/tokens/{unique}"), ("POST", f"/v0/tokens/{unique}/refresh")]:
            r = c.request(method, path)
            assert r.status_code == 403, (method, path, r.text)
            assert "error" in r.json()


def test_put_replaces_scopes_keeps_value(admin, ds, unique):  # type: ignore[no-untyped-def]
    tok = admin.post("/v0/tokens", params={"name": unique, "scope": f"DATASOURCES:READ:{ds}:user_id = 1"}).json()
    r = admin.put(f"/v0/tokens/{unique}", params={"scope": f"DATASOURCES:READ:{ds}:user_id = 3",
                                                  "description": "moved"})
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["token"] == tok["token"]
    assert new["scopes"] == [{"type": "DATASOURCES:READ", "resource": ds, "filter": "user_id = 3"}]
    assert new["description"] == "moved"
    # form body works too (the CLI moves long scopes to the body)
    r = admin.put(f"/v0/tokens/{unique}", data={"scope": f"DATASOURCES:APPEND:{ds}"})
    assert r.json()["scopes"] == [{"type": "DATASOURCES:APPEND", "resource": ds}]


def test_delete_and_refresh_take_effect_at_once(admin, server, ds, unique):  # type: ignore[no-untyped-def]
    tok = admin.post("/v0/tokens", params={"name": unique, "scope": f"DATASOURCES:READ:{ds}"}).json()
    old = tok["token"]
    with server.client(old) as c:
        assert c.get("/v0/workspace").status_code == 200
    r = admin.post(f"/v0/tokens/{unique}/refresh")
    assert r.status_code == 200
    new = r.json()["token"]
    assert new != old and r.json()["id"] == tok["id"]
    with server.client(old) as c:
        assert c.get("/v0/workspace").status_code == 403
    with server.client(new) as c:
        assert c.get("/v0/workspace").status_code == 200
    assert admin.delete(f"/v0/tokens/{unique}").status_code == 204
    with server.client(new) as c:
        assert c.get("/v0/workspace").status_code == 403
    assert admin.get(f"/v0/tokens/{unique}").status_code == 404
    assert admin.delete(f"/v0/tokens/{unique}").status_code == 404


def test_refresh_get_is_405(admin, unique):  # type: ignore[no-untyped-def]
    admin.post("/v0/tokens", params={"name": unique, "scope": "PIPES:CREATE"})
    assert admin.get(f"/v0/tokens/{unique}/refresh").status_code == 405


def test_static_token_expiration(admin, server, ds, unique):  # type: ignore[no-untyped-def]
    exp = int(time.time()) + 2
    r = admin.post("/v0/tokens", params={"name": unique, "scope": f"DATASOURCES:READ:{ds}", "expiration_time": exp})
    assert r.status_code == 200, r.text
    tk = r.json()["token"]
    with server.client(tk) as c:
        assert c.get("/v0/workspace").status_code == 200
        deadline = time.time() + 10
        while time.time() < exp + 0.5 and time.time() < deadline:
            time.sleep(0.2)
        r = c.get("/v0/workspace")
        assert r.status_code == 403
        assert "expired" in r.json()["error"]
    assert admin.post("/v0/tokens", params={"name": unique + "p", "scope": "TOKENS",
                                            "expiration_time": 1000}).status_code == 400


def test_audit_trail(admin, ds, unique):  # type: ignore[no-untyped-def]
    admin.post("/v0/tokens", params={"name": unique, "scope": f"DATASOURCES:READ:{ds}:user_id = 1"})
    admin.put(f"/v0/tokens/{unique}", params={"scope": f"DATASOURCES:READ:{ds}:user_id = 2"})
    tok = admin.post(f"/v0/tokens/{unique}/refresh").json()
    admin.delete(f"/v0/tokens/{unique}")
    entries = admin.get(f"/v0/tokens/{tok['id']}/audit").json()["audit"]
    assert entries == admin.get("/v0/audit", params={"name": tok["id"]}).json()["audit"]
    actions = [e["action"] for e in reversed(entries)]
    assert actions == ["create", "update", "refresh", "delete"]
    upd = next(e for e in entries if e["action"] == "update")
    assert upd["old_scopes"][0]["filter"] == "user_id = 1"
    assert upd["new_scopes"][0]["filter"] == "user_id = 2"
    assert upd["actor"] == "admin token"
    text = str(entries)
    assert tok["token"] not in text


def test_jwt_create_and_use(admin, server, ds, unique):  # type: ignore[no-untyped-def]
    exp = int(time.time()) + 600
    r = admin.post("/v0/tokens", params={"expiration_time": exp},
                   json={"name": unique, "scopes": [{"type": "DATASOURCES:READ", "resource": ds,
                                                     "filter": "user_id = 4"}], "limits": {"rps": 50}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["exp"] == exp and body["name"] == unique
    claims = pyjwt.decode(body["token"], options={"verify_signature": False})
    assert claims["workspace_id"] and claims["scopes"][0]["filter"] == "user_id = 4"
    with server.client(body["token"]) as c:
        r = sql(c, f"SELECT DISTINCT user_id FROM {ds} FORMAT JSON")
        assert r.status_code == 200, r.text
        assert [row["user_id"] for row in r.json()["data"]] == [4]
        # a JWT may not use the management API
        assert c.get("/v0/tokens").status_code == 403
        assert c.get("/v0/datasources").status_code == 403


def test_jwt_signed_elsewhere_and_refused_variants(admin, server, ds):  # type: ignore[no-untyped-def]
    ws = admin.get("/v0/workspace").json()["id"]
    key = server.admin_token
    base = {"workspace_id": ws, "name": "backend", "scopes": [{"type": "DATASOURCES:READ", "resource": ds,
                                                               "filter": "user_id = 5"}]}
    good = pyjwt.encode({**base, "exp": int(time.time()) + 60}, key, algorithm="HS256")
    with server.client(good) as c:
        r = sql(c, f"SELECT count() AS c, uniqExact(user_id) AS u FROM {ds} FORMAT JSON")
        assert r.status_code == 200, r.text
        assert r.json()["data"][0]["u"] == 1
    bad = {
        "expired": pyjwt.encode({**base, "exp": int(time.time()) - 10}, key, algorithm="HS256"),
        "no exp": pyjwt.encode(base, key, algorithm="HS256"),
        "wrong key": pyjwt.encode({**base, "exp": int(time.time()) + 60}, "p.wrong-key-of-the-right-length-000000",
                                  algorithm="HS256"),
        "other workspace": pyjwt.encode({**base, "workspace_id": "nope", "exp": int(time.time()) + 60}, key,
                                        algorithm="HS256"),
        "unknown scope": pyjwt.encode({**base, "scopes": [{"type": "ADMIN"}], "exp": int(time.time()) + 60}, key,
                                      algorithm="HS256"),
        "malformed scope": pyjwt.encode({**base, "scopes": [{"type": "DATASOURCES:READ", "resource": 5}],
                                         "exp": int(time.time()) + 60}, key, algorithm="HS256"),
        "alg none": pyjwt.encode({**base, "exp": int(time.time()) + 60}, None, algorithm="none"),
        "garbage": "eyJhbGciOi.garbage.x",
    }
    for label, tok in bad.items():
        with server.client(tok) as c:
            r = sql(c, f"SELECT count() FROM {ds}")
            assert r.status_code == 403, (label, r.text)
            assert r.json()["error"].startswith("invalid authentication token"), label


def test_jwt_bad_requests(admin, ds):  # type: ignore[no-untyped-def]
    past = int(time.time()) - 5
    assert admin.post("/v0/tokens", params={"expiration_time": past},
                      json={"name": "j", "scopes": [{"type": "DATASOURCES:READ", "resource": ds}]}).status_code == 400
    assert admin.post("/v0/tokens", params={"expiration_time": "soon"},
                      json={"name": "j", "scopes": [{"type": "DATASOURCES:READ", "resource": ds}]}).status_code == 400
    future = int(time.time()) + 60
    assert admin.post("/v0/tokens", params={"expiration_time": future},
                      json={"name": "j", "scopes": [{"type": "PIPES:READ", "resource": "ghost"}]}).status_code == 400
    assert admin.post("/v0/tokens", params={"expiration_time": future},
                      json={"name": "j", "scopes": [{"type": "ADMIN"}]}).status_code == 400


def test_static_rps_limit_sends_four_headers(admin, server, unique):  # type: ignore[no-untyped-def]
    tk = admin.post("/v0/tokens", params={"name": unique, "scope": "PIPES:CREATE", "rps": 1}).json()["token"]
    with server.client(tk) as c:
        statuses = [c.get("/v0/workspace") for _ in range(8)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    h = limited[0].headers
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"):
        assert int(h[name]) >= 0
    assert "error" in limited[0].json()
