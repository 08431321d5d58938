"""JWT tokens (reference §2): HS256, signed with the workspace ADMIN token's value.

Claims: ``workspace_id`` (str), ``name`` (str), ``exp`` (number, required), ``scopes`` (non-empty
list of ``{type, resource, fixed_params?, filter?}``, only ``PIPES:READ`` and ``DATASOURCES:READ``),
``limits`` (optional ``{"rps": int >= 0}``). Every failure is 403 ``invalid authentication token. <why>``;
verification fails closed (any unexpected error is a refusal). Error messages never echo the token.

Verification is a strict HS256 check written here (HMAC-SHA256 + ``hmac.compare_digest``, ~5x faster
than ``jwt.decode``); PyJWT is used to mint, and the tests check that PyJWT-made tokens verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import time
from typing import Any

import jwt as pyjwt
import orjson

from roost.auth.principal import Principal, Scope
from roost.auth.scopes import scope_from_json, scope_to_jwt_json
from roost.errors import BadRequest, Forbidden

INVALID = "invalid authentication token"
ALGORITHM = "HS256"
MAX_JWT_LENGTH = 65536
_B64URL = re.compile(rb"[A-Za-z0-9_-]*")


class _Refused(Exception):
    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        # A permanent refusal stays a refusal for the same token and key (cacheable).
        self.permanent = permanent


def _b64decode(segment: bytes) -> bytes:
    if len(segment) % 4 == 1 or not _B64URL.fullmatch(segment):
        raise _Refused("Invalid token: invalid base64url segment")
    return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _decode_hs256(token: str, signing_key: str) -> dict[str, Any]:
    """Check structure, header and HS256 signature; return the claims (not yet validated).

    Strict: exactly three base64url segments, a JSON-object header with ``alg`` exactly ``HS256``
    (``none``, other HMAC sizes and asymmetric algorithms are refused) and no ``crit``, a canonical
    signature encoding, and a JSON-object payload (parsed only after the signature matched).
    """
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise _Refused("Invalid token: not ASCII") from None
    parts = raw.split(b".")
    if len(parts) != 3:
        raise _Refused("Invalid token: wrong number of segments")
    if not all(_B64URL.fullmatch(part) for part in parts):
        raise _Refused("Invalid token: invalid base64url segment")
    h64, p64, s64 = parts
    try:
        header = orjson.loads(_b64decode(h64))
    except orjson.JSONDecodeError:
        raise _Refused("Invalid token: header is not JSON") from None
    if not isinstance(header, dict):
        raise _Refused("Invalid token: header is not a JSON object")
    if header.get("alg") != ALGORITHM:
        raise _Refused("The specified alg value is not allowed, only HS256 is accepted")
    if "crit" in header:
        raise _Refused("Invalid token: unsupported critical header")
    expected = hmac.new(signing_key.encode(), h64 + b"." + p64, hashlib.sha256).digest()
    if not hmac.compare_digest(_b64encode(expected), s64):
        raise _Refused("Signature verification failed")
    try:
        claims = orjson.loads(_b64decode(p64))
    except orjson.JSONDecodeError:
        raise _Refused("Invalid token: payload is not JSON") from None
    if not isinstance(claims, dict):
        raise _Refused("Invalid token: the payload must be a JSON object")
    return claims


def _forbidden(reason: str) -> Forbidden:
    return Forbidden(f"{INVALID}. {reason}")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _verify(token: str, workspace_id: str, signing_key: str, now: float) -> Principal:
    if not isinstance(token, str) or not token:
        raise _Refused("Empty token")
    if len(token) > MAX_JWT_LENGTH:
        raise _Refused("Token too long")
    try:
        claims = _decode_hs256(token, signing_key)
    except _Refused:
        raise
    except Exception:  # anything unexpected while decoding: refuse
        raise _Refused("Invalid token") from None

    exp = claims.get("exp")
    if exp is None:
        raise _Refused('Token is missing the "exp" claim')
    if not _is_number(exp):
        raise _Refused("Expiration Time claim (exp) must be a number")
    if exp <= now:
        raise _Refused("Signature has expired")
    nbf = claims.get("nbf")
    if nbf is not None:
        if not _is_number(nbf):
            raise _Refused("Not Before claim (nbf) must be a number")
        if nbf > now:
            raise _Refused("The token is not yet valid (nbf)", permanent=False)

    ws = claims.get("workspace_id")
    if not isinstance(ws, str) or not ws:
        raise _Refused("Workspace ID missing in JWT token")
    if ws != workspace_id:
        raise _Refused(f"Workspace with ID {ws[:64]} not found")

    name = claims.get("name")
    if not isinstance(name, str) or not name:
        raise _Refused("Name missing in JWT token")

    raw_scopes = claims.get("scopes")
    if not isinstance(raw_scopes, list) or not raw_scopes:
        raise _Refused("scopes must be a non-empty list")
    scopes: list[Scope] = []
    for item in raw_scopes:
        try:
            scopes.append(scope_from_json(item))
        except BadRequest as e:
            raise _Refused(e.message) from None

    rps_limit: int | None = None
    limits = claims.get("limits")
    if limits is not None:
        if not isinstance(limits, dict):
            raise _Refused("limits must be an object")
        rps = limits.get("rps")
        if rps is not None:
            if not isinstance(rps, int) or isinstance(rps, bool) or rps < 0:
                raise _Refused("limits.rps must be an integer >= 0")
            rps_limit = rps or None

    return Principal(
        token_id=f"jwt:{name}",
        name=name,
        kind="jwt",
        scopes=tuple(scopes),
        rps_limit=rps_limit,
        expires_at=float(exp),
    )


def verify_jwt(token: str, *, workspace_id: str, signing_key: str, now: float | None = None) -> Principal:
    """Verify a JWT (uncached). Raises Forbidden ``invalid authentication token. <reason>``."""
    try:
        return _verify(token, workspace_id, signing_key, time.time() if now is None else now)
    except _Refused as e:
        raise _forbidden(e.reason) from None


def mint_jwt(
    *,
    workspace_id: str,
    signing_key: str,
    name: str,
    scopes: list[dict[str, Any]],
    expiration_time: int,
    limits: dict[str, Any] | None = None,
) -> str:
    """A JWT with Tinybird's payload. Scopes are checked like on verification (BadRequest)."""
    if not isinstance(name, str) or not name:
        raise BadRequest("name is required")
    if not isinstance(scopes, list) or not scopes:
        raise BadRequest("scopes must be a non-empty list")
    if not isinstance(expiration_time, int) or isinstance(expiration_time, bool):
        raise BadRequest("expiration_time must be an integer unix timestamp")
    payload: dict[str, Any] = {
        "workspace_id": workspace_id,
        "exp": expiration_time,
        "name": name,
        "scopes": [scope_to_jwt_json(scope_from_json(s)) for s in scopes],
    }
    if limits is not None:
        if not isinstance(limits, dict):
            raise BadRequest("limits must be an object")
        rps = limits.get("rps")
        if rps is not None:
            if not isinstance(rps, int) or isinstance(rps, bool) or rps < 0:
                raise BadRequest("limits.rps must be an integer >= 0")
            payload["limits"] = {"rps": rps}
    return pyjwt.encode(payload, signing_key, algorithm=ALGORITHM)


class JWTCache:
    """Verified-JWT cache keyed by sha256(token) + signing key + workspace id.

    A hit costs one sha256 and a dict lookup; an entry is served only while ``exp`` is in the
    future, so an expired JWT is refused even when cached. Permanent refusals (bad signature,
    expired, malformed) are cached too, so a flood of the same bad JWT is cheap. Both maps are
    bounded: they are cleared when full. Changing the signing key changes every cache key.
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self._ok: dict[tuple[bytes, str, str], Principal] = {}
        self._bad: dict[tuple[bytes, str, str], str] = {}

    def __len__(self) -> int:
        return len(self._ok) + len(self._bad)

    def clear(self) -> None:
        self._ok.clear()
        self._bad.clear()

    def verify(self, token: str, *, workspace_id: str, signing_key: str, now: float | None = None) -> Principal:
        t = time.time() if now is None else now
        if not isinstance(token, str) or len(token) > MAX_JWT_LENGTH:
            return verify_jwt(token, workspace_id=workspace_id, signing_key=signing_key, now=t)
        key = (hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest(), signing_key, workspace_id)
        p = self._ok.get(key)
        if p is not None:
            if p.expires_at is not None and p.expires_at > t:
                return p
            self._ok.pop(key, None)
        else:
            reason = self._bad.get(key)
            if reason is not None:
                raise _forbidden(reason)
        try:
            p = _verify(token, workspace_id, signing_key, t)
        except _Refused as e:
            if e.permanent:
                if len(self._bad) >= self.maxsize:
                    self._bad.clear()
                self._bad[key] = e.reason
            raise _forbidden(e.reason) from None
        if len(self._ok) >= self.maxsize:
            self._ok.clear()
        self._ok[key] = p
        return p
