"""Helpers shared by the auth tests."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from roost.auth.values import mint_value, value_hash, value_payload
from roost.catalog import Catalog

SECRET = b"0123456789abcdef0123456789abcdef-test-secret"


def add_token(
    catalog: Catalog,
    name: str,
    scopes: list[dict[str, Any]],
    *,
    workspace_id: str,
    secret: bytes = SECRET,
    expires_at: float | None = None,
    rps_limit: int | None = None,
) -> dict[str, Any]:
    value = mint_value(workspace_id, secret)
    payload = value_payload(value) or {}
    return catalog.create_token(
        {
            "id": payload.get("id") or str(uuid.uuid4()),
            "name": name,
            "value": value,
            "value_hash": value_hash(value),
            "scopes": scopes,
            "expires_at": expires_at,
            "rps_limit": rps_limit,
        }
    )


def refresh_token(catalog: Catalog, rec: dict[str, Any], *, workspace_id: str, secret: bytes = SECRET) -> str:
    value = mint_value(workspace_id, secret)
    catalog.update_token(rec["id"], value=value, value_hash=value_hash(value))
    return value


class CountingCatalog:
    """Wraps a catalog and counts method calls (to prove cache hits do not touch it)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if name == "touch_tokens":  # batched last-use writes count per token
                self.calls["touch_token"] += len(args[0])
            else:
                self.calls[name] += 1
            return attr(*args, **kwargs)

        return wrapper

    def reads(self) -> int:
        return sum(n for k, n in self.calls.items() if k != "touch_token")
