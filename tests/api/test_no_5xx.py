"""Bad input never gives a 500 or a traceback: a table of malformed requests across the API."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.data import create_events, create_pipe
from tests.support.server import RoostServer


@pytest.fixture(scope="module")
def world(server: RoostServer) -> str:
    with server.admin() as admin:
        create_events(admin, "n5_events", users=2, per_user=3)
        create_pipe(admin, "n5_pipe", "%\nSELECT count() AS c FROM n5_events WHERE user_id = {{Int32(u, 1)}}")
    return "n5_pipe"


BAD = [
    ("POST", "/v0/pipes", {"json": [1, 2, 3]}),
    ("POST", "/v0/pipes", {"json": {"name": 5, "nodes": "SELECT 1"}}),
    ("POST", "/v0/pipes", {"json": {"name": "p_bad", "nodes": [{"name": 3, "sql": 4}]}}),
    ("POST", "/v0/pipes", {"json": {"name": "p_bad", "nodes": [None]}}),
    ("POST", "/v0/pipes", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
    ("PUT", "/v0/pipes/n5_pipe/nodes/n5_pipe_node", {"json": ["x"]}),
    ("PUT", "/v0/pipes/n5_pipe/nodes/n5_pipe_node", {"json": {"sql": 12, "name": ["a"]}}),
    ("POST", "/v0/pipes/n5_pipe/nodes", {"json": {"sql": None}}),
    ("GET", "/v0/pipes/n5_pipe.json?u=%00", {}),
    ("GET", "/v0/pipes/n5_pipe.json?u=1e999", {}),
    ("GET", "/v0/pipes/n5_pipe.xml", {}),
    ("GET", "/v0/pipes/n5_pipe.json?q=SELECT%20*%20FROM%20system.tables", {}),
    ("POST", "/v0/pipes/n5_pipe.json", {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}}),
    ("POST", "/v0/sql", {"json": {"q": 5}}),
    ("POST", "/v0/sql", {"json": ["SELECT 1"]}),
    ("POST", "/v0/sql", {"content": b"\xff\xfe\xfd"}),
    ("GET", "/v0/sql?q=%25%0ASELECT%20{{%20Int32(x)%20}}", {}),
    ("GET", "/v0/sql?q=SELECT%201&max_threads=abc", {}),
    ("GET", "/v0/sql?q=SELECT%201&output_format_json_quote_64bit_integers=2", {}),
    ("POST", "/v0/sql?template_parameters=%7Bbad", {"data": {"q": "%\nSELECT 1"}}),
    ("POST", "/v0/tokens", {"json": {"name": "j", "scopes": "PIPES:READ"},
                            "params": {"expiration_time": "9999999999"}}),
    ("POST", "/v0/tokens", {"json": {"name": ["x"], "scopes": [{"type": "PIPES:READ", "resource": "n5_pipe"}]},
                            "params": {"expiration_time": "9999999999"}}),
    ("POST", "/v0/tokens", {"json": {"name": "j", "scopes": [{"type": "PIPES:READ", "resource": "n5_pipe"}],
                                     "limits": {"rps": "many"}}, "params": {"expiration_time": "9999999999"}}),
    ("POST", "/v0/tokens", {"params": {"name": "x\x00y", "scope": "PIPES:CREATE"}}),
    ("POST", "/v0/tokens", {"params": {"name": "rps_bad", "scope": "PIPES:CREATE", "rps": "-3"}}),
    ("PUT", "/v0/tokens/ghost", {"params": {"scope": "ADMIN"}}),
    ("POST", "/v0/sql_tables", {"data": {"q": "SELECT ((("}}),
    ("POST", "/v0/datasources/n5_events/delete", {"data": {"delete_condition": "user_id IN (SELECT 1"}}),
    ("POST", "/v0/datasources/n5_events/alter", {"data": {"schema": "`user_id` String"}}),
    ("GET", "/v0/jobs/not-a-uuid", {}),
]


@pytest.mark.parametrize("method,path,kw", BAD)
def test_bad_requests_are_4xx_json(admin, world, method, path, kw):  # type: ignore[no-untyped-def]
    r = admin.request(method, path, **kw)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body.get("error"), str) and "Traceback" not in body["error"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(min_size=1, max_size=200))
def test_fuzzed_sql_never_5xx(admin, world, q):  # type: ignore[no-untyped-def]
    r = admin.post("/v0/sql", data={"q": q})
    assert r.status_code < 500, (q, r.text[:300])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(u=st.text(max_size=50), extra=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20),
                                                   max_size=3))
def test_fuzzed_endpoint_params_never_5xx(admin, world, u, extra):  # type: ignore[no-untyped-def]
    r = admin.post(f"/v0/pipes/{world}.json", data={"u": u, **extra})
    assert r.status_code < 500, (u, extra, r.text[:300])
