"""Static token values in Tinybird's format (reference §1.2).

A value is ``p.`` + base64url(payload JSON) + ``.`` + base64url(HMAC-SHA256(secret, payload_b64)), both
unpadded. The payload is ``json.dumps({"u": workspace_id, "id": uuid4, "host": host})`` with Python's
default separators, so values begin ``p.eyJ1IjogIj`` like Tinybird's.

The HMAC lets the verifier reject garbage without touching the catalog; the catalog (looked up by
``value_hash``) stays the authority on whether a value is still valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from typing import Any

PREFIX = "p"
# Real values are ~150 characters; anything far longer is not ours (and not worth hashing).
MAX_VALUE_LENGTH = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _sign(secret: bytes, payload_b64: bytes) -> str:
    return _b64(hmac.new(secret, payload_b64, hashlib.sha256).digest())


def mint_value(workspace_id: str, secret: bytes, host: str | None = None) -> str:
    """A fresh static token value (a new uuid4 ``id`` each call)."""
    payload = json.dumps({"u": workspace_id, "id": str(uuid.uuid4()), "host": host})
    payload_b64 = _b64(payload.encode())
    return f"{PREFIX}.{payload_b64}.{_sign(secret, payload_b64.encode('ascii'))}"


def check_value(value: str, secret: bytes) -> bool:
    """True when ``value`` is a ``p.<payload>.<sig>`` value whose HMAC was made with ``secret``.

    Says nothing about whether the token still exists: that is the catalog's job.
    """
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
        return False
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        return False
    parts = raw.split(b".")
    if len(parts) != 3 or parts[0] != PREFIX.encode() or not parts[1]:
        return False
    expected = _sign(secret, parts[1]).encode("ascii")
    return hmac.compare_digest(expected, parts[2])


def value_payload(value: str) -> dict[str, Any] | None:
    """The decoded payload of a value (``{"u", "id", "host"}``), or None. Does NOT check the HMAC."""
    parts = value.split(".")
    if len(parts) != 3:
        return None
    try:
        data = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        out = json.loads(data)
    except (binascii.Error, ValueError):
        return None
    return out if isinstance(out, dict) else None


def value_hash(value: str) -> str:
    """sha256 hex digest of a value: the catalog lookup key (values are never looked up in clear)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def is_jwt(value: str) -> bool:
    """Tinybird's rule: anything that does not start with ``p.`` is treated as a JWT."""
    return not value.startswith("p.")
