"""GET /v0/workspace: 200 for a valid token (query or Bearer), 403 with the JSON error otherwise."""

from __future__ import annotations

import httpx
import pytest

from roost.auth.values import mint_value
from tests.ingest.helpers import assert_error
from tests.support.server import RoostServer


def test_admin_token_in_query_string(server: RoostServer) -> None:
    r = httpx.get(f"{server.url}/v0/workspace", params={"token": server.admin_token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] and body["name"]
    assert body["is_branch"] is False


def test_admin_token_as_bearer(server: RoostServer) -> None:
    r = httpx.get(f"{server.url}/v0/workspace", headers={"Authorization": f"Bearer {server.admin_token}"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == httpx.get(f"{server.url}/v0/workspace", params={"token": server.admin_token}).json()["id"]


def test_unknown_query_parameters_are_ignored(server: RoostServer) -> None:
    r = httpx.get(f"{server.url}/v0/workspace?token={server.admin_token}&cli_version=6.5.5+(rev+x)&cli_version=2")
    assert r.status_code == 200, r.text


def _unknown_static_token() -> str:
    """A well-formed ``p.`` value signed with another secret: it parses, but no such token exists."""
    return mint_value("00000000-0000-0000-0000-000000000000", b"another-secret-another-secret-another")


@pytest.mark.parametrize(
    "how",
    ["none", "garbage query", "garbage bearer", "lowercase bearer", "basic", "empty bearer", "unknown p. token",
     "unknown p. token bearer"],
)
def test_invalid_credentials_get_403_json(server: RoostServer, how: str) -> None:
    url = f"{server.url}/v0/workspace"
    admin = server.admin_token
    unknown = _unknown_static_token()
    req = {
        "none": {},
        "garbage query": {"params": {"token": "garbage"}},
        "garbage bearer": {"headers": {"Authorization": "Bearer garbage"}},
        # Tinybird only accepts the exact "Bearer" scheme
        "lowercase bearer": {"headers": {"Authorization": f"bearer {admin}"}},
        "basic": {"headers": {"Authorization": f"Basic {admin}"}},
        "empty bearer": {"headers": {"Authorization": "Bearer"}},
        "unknown p. token": {"params": {"token": unknown}},
        "unknown p. token bearer": {"headers": {"Authorization": f"Bearer {unknown}"}},
    }[how]
    r = httpx.get(url, **req)  # type: ignore[arg-type]
    assert_error(r, 403)
    assert r.json()["documentation"].endswith("#authentication")
