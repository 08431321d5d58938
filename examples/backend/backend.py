"""A product backend that keeps one Roost token per end user — the four token flows.

- sign-up:            POST /v0/tokens            create ``user_<id>`` that reads only that user's rows
- permission change:  PUT  /v0/tokens/user_<id>  replace its scopes (e.g. narrow the filter)
- removal:            DELETE /v0/tokens/user_<id> the value stops working at once
- periodic refresh:   POST /v0/tokens/user_<id>/refresh  new value, same token; the old value stops working

Run it against a Roost started with ``./dev demo``::

    python examples/backend/backend.py --host http://127.0.0.1:7181 --admin-token "$(cat roost-data/admin-token)"
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import httpx

ENDPOINT = "ecommerce_example"
DATASOURCE = "events"


@dataclass
class RoostTokens:
    """The backend's side: it holds the admin (or a TOKENS) token and never shows it to browsers."""

    host: str
    admin_token: str

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.host, headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=30)

    @staticmethod
    def scopes(user_id: int, extra_filter: str | None = None) -> list[str]:
        row_filter = f"user_id = {int(user_id)}"
        if extra_filter:
            row_filter = f"{row_filter} AND ({extra_filter})"
        return [f"PIPES:READ:{ENDPOINT}", f"DATASOURCES:READ:{DATASOURCE}:{row_filter}"]

    def sign_up(self, user_id: int) -> str:
        """Create ``user_<id>``; returns the value to hand to that user's browser."""
        with self._client() as c:
            r = c.post("/v0/tokens", data={"name": f"user_{int(user_id)}",
                                           "description": f"dashboard token of user {int(user_id)}",
                                           "scope": self.scopes(user_id)})
            r.raise_for_status()
            return str(r.json()["token"])

    def change_permissions(self, user_id: int, extra_filter: str) -> None:
        """Narrow what the user sees, e.g. ``event_type = 'purchase'``; the value stays the same."""
        with self._client() as c:
            r = c.put(f"/v0/tokens/user_{int(user_id)}", data={"scope": self.scopes(user_id, extra_filter)})
            r.raise_for_status()

    def remove(self, user_id: int) -> None:
        with self._client() as c:
            r = c.delete(f"/v0/tokens/user_{int(user_id)}")
            if r.status_code not in (200, 204, 404):
                r.raise_for_status()

    def refresh(self, user_id: int) -> str:
        """Rotate the value (run on a schedule); returns the new value."""
        with self._client() as c:
            r = c.post(f"/v0/tokens/user_{int(user_id)}/refresh")
            r.raise_for_status()
            return str(r.json()["token"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--host", default="http://127.0.0.1:7181")
    p.add_argument("--admin-token", required=True)
    p.add_argument("--user", type=int, default=42)
    args = p.parse_args(argv)
    backend = RoostTokens(args.host, args.admin_token)

    def rows(token: str) -> int | str:
        r = httpx.get(f"{args.host}/v0/pipes/{ENDPOINT}.json", params={"limit": 5},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)
        return len(r.json()["data"]) if r.status_code == 200 else f"HTTP {r.status_code}"

    backend.remove(args.user)
    token = backend.sign_up(args.user)
    print(f"signed up user {args.user}: endpoint rows -> {rows(token)}")
    backend.change_permissions(args.user, "event_type = 'purchase'")
    print(f"narrowed to purchases:     endpoint rows -> {rows(token)}")
    new = backend.refresh(args.user)
    print(f"refreshed: old value -> {rows(token)}, new value -> {rows(new)}")
    backend.remove(args.user)
    print(f"removed:   value -> {rows(new)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
