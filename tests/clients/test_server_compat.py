"""Server behaviour the clients rely on, checked over plain HTTP (no client package needed)."""

from __future__ import annotations

import httpx

from tests.clients.helpers import endpoint, scopes, token
from tests.support.server import RoostServer

SCHEMA = "`user_id` String `json:$.user_id`, `price` Float64 `json:$.price`"


def test_dropping_a_pipe_removes_it_from_every_token(roost: RoostServer, http: httpx.Client, unique: str) -> None:
    """As in Tinybird. ``tb push --force`` depends on it (it creates, tests and drops ``<pipe>__checker``, then
    re-sends the scopes it read back), and a stale scope must not grant a later pipe of the same name."""
    ds, pipe = f"{unique}_ds", f"{unique}_p"
    assert http.post("/v0/datasources", data={"name": ds, "schema": SCHEMA}).status_code == 200
    node = {"name": "n", "sql": f"SELECT user_id, price FROM {ds}", "type": "endpoint"}
    assert http.post("/v0/pipes", json={"name": pipe, "nodes": [node]}).status_code == 200
    other = http.post("/v0/pipes", json={"name": f"{pipe}2", "nodes": [node]})
    assert other.status_code == 200
    r = http.post("/v0/tokens", params=[("name", f"{unique}_t"), ("scope", f"PIPES:READ:{pipe}"),
                                        ("scope", f"PIPES:READ:{pipe}2"), ("scope", f"DATASOURCES:READ:{ds}")])
    assert r.status_code == 200, r.text
    value = r.json()["token"]
    assert endpoint(roost.url, value, pipe).status_code == 200

    assert http.delete(f"/v0/pipes/{pipe}").status_code == 204
    t = token(http, f"{unique}_t")
    assert scopes(t) == {("PIPES:READ", f"{pipe}2", ""), ("DATASOURCES:READ", ds, "")}
    assert t["token"] == value
    # what tb then sends back (scope=TYPE:RESOURCE for each remaining scope) is accepted
    put = http.put(f"/v0/tokens/{unique}_t", params=[("scope", f"{s['type']}:{s['resource']}") for s in t["scopes"]])
    assert put.status_code == 200, put.text
    # a new pipe under the old name is not readable with the old grant
    assert http.post("/v0/pipes", json={"name": pipe, "nodes": [node]}).status_code == 200
    assert endpoint(roost.url, value, pipe).status_code == 403
    assert endpoint(roost.url, value, f"{pipe}2").status_code == 200
    audit = http.get(f"/v0/tokens/{unique}_t/audit").json()["audit"]
    assert any(a["action"] == "update" and a["new_scopes"] is not None
               and all(s["resource"] != pipe for s in a["new_scopes"]) for a in audit)

    # replacing a pipe (force=true) keeps the tokens' grants
    r = http.post("/v0/tokens", params=[("name", f"{unique}_t2"), ("scope", f"PIPES:READ:{pipe}")])
    assert r.status_code == 200
    assert http.post("/v0/pipes", params={"force": "true"}, json={"name": pipe, "nodes": [node]}).status_code == 200
    assert scopes(token(http, f"{unique}_t2")) == {("PIPES:READ", pipe, "")}


def test_token_put_with_scopes_in_a_bare_body(http: httpx.Client, unique: str) -> None:
    """tb's alter_tokens (a pipe's or data source's TOKEN line) sends ``scope=..&scope=..`` as a body with no
    Content-Type once the URL would pass 4096 characters."""
    ds = f"{unique}_ds"
    assert http.post("/v0/datasources", data={"name": ds, "schema": SCHEMA}).status_code == 200
    r = http.post("/v0/tokens", params=[("name", f"{unique}_t"), ("scope", f"DATASOURCES:APPEND:{ds}")])
    value = r.json()["token"]
    body = f"scope=DATASOURCES:READ:{ds}&scope=DATASOURCES:APPEND:{ds}".encode()
    req = http.build_request("PUT", f"/v0/tokens/{unique}_t", content=body)
    assert "content-type" not in req.headers
    r = http.send(req)
    assert r.status_code == 200, r.text
    t = token(http, f"{unique}_t")
    assert scopes(t) == {("DATASOURCES:READ", ds, ""), ("DATASOURCES:APPEND", ds, "")}
    assert t["token"] == value
    # a JSON body without a Content-Type is still a JWT request, not a form
    r = http.post("/v0/tokens", params={"name": f"{unique}_jwt", "expiration_time": "4102444800"},
                  content=b'{"scopes": [{"type": "DATASOURCES:READ", "resource": "%s"}]}' % ds.encode())
    assert r.status_code == 200 and r.json()["token"].startswith("eyJ")
