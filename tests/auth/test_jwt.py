from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt as pyjwt
import pytest

from roost.auth.jwt import JWTCache, mint_jwt, verify_jwt
from roost.auth.principal import Scope
from roost.auth.values import mint_value
from roost.errors import BadRequest, Forbidden

WS = "0f3c2a55-7a61-4c55-9a8e-6a1c3b1f9d2e"
KEY = mint_value(WS, b"k" * 32)  # the admin token value is the signing key
OTHER_KEY = mint_value(WS, b"k" * 32)
NOW = 1_700_000_000.0


def claims(**over: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "workspace_id": WS,
        "name": "tenant_42",
        "exp": int(NOW) + 3600,
        "scopes": [{"type": "PIPES:READ", "resource": "top_pages", "fixed_params": {"org": "acme"}}],
    }
    c.update(over)
    return {k: v for k, v in c.items() if v is not _DROP}


_DROP: Any = object()


def sign(payload: dict[str, Any], key: str = KEY, alg: str = "HS256") -> str:
    return pyjwt.encode(payload, key, algorithm=alg)


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def raw_token(header: dict[str, Any], payload: Any, key: str = KEY, sig: bytes | None = None) -> str:
    h = _b64(json.dumps(header).encode())
    p = _b64(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    if sig is None:
        sig = hmac.new(key.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{_b64(sig)}"


def verify(token: str, now: float = NOW, key: str = KEY) -> Any:
    return verify_jwt(token, workspace_id=WS, signing_key=key, now=now)


def test_accepts_pyjwt_token() -> None:
    p = verify(sign(claims()))
    assert p.kind == "jwt"
    assert p.token_id == "jwt:tenant_42"
    assert p.name == "tenant_42"
    assert p.scopes == (Scope("PIPES:READ", "top_pages", fixed_params={"org": "acme"}),)
    assert p.rps_limit is None
    assert p.expires_at == NOW + 3600
    assert not p.is_admin
    assert p.pipe_read("top_pages") == Scope("PIPES:READ", "top_pages", fixed_params={"org": "acme"})
    assert p.pipe_read("other") is None


def test_accepts_forward_style_claims() -> None:
    c = claims(
        exp=NOW + 10.5,  # float exp (Date.getTime()/1000)
        iat=NOW - 5,
        scopes=[
            {"type": "DATASOURCES:READ", "resource": "events", "filter": "org_id = 'acme'"},
            {"type": "PIPES:READ", "resource": "p", "fixed_params": None},
        ],
        limits={"rps": 10},
    )
    p = verify(sign(c))
    assert p.datasource_read("events") == Scope("DATASOURCES:READ", "events", "org_id = 'acme'")
    assert p.pipe_read("p") == Scope("PIPES:READ", "p")
    assert p.rps_limit == 10
    assert p.expires_at == NOW + 10.5


def test_limits_zero_or_null_is_no_limit() -> None:
    assert verify(sign(claims(limits={"rps": 0}))).rps_limit is None
    assert verify(sign(claims(limits={"rps": None}))).rps_limit is None
    assert verify(sign(claims(limits={}))).rps_limit is None
    assert verify(sign(claims(limits=None))).rps_limit is None


def _refusals() -> list[tuple[str, str, str]]:
    header = {"alg": "HS256", "typ": "JWT"}
    good = sign(claims())
    h, p, s = good.split(".")
    tampered_payload = _b64(json.dumps(claims(name="admin")).encode())
    return [
        ("expired", sign(claims(exp=int(NOW) - 1)), "Signature has expired"),
        ("expires_now", sign(claims(exp=int(NOW))), "Signature has expired"),
        ("no_exp", sign(claims(exp=_DROP)), 'missing the "exp" claim'),
        ("exp_null", sign(claims(exp=None)), 'missing the "exp" claim'),
        ("exp_string", sign(claims(exp=str(int(NOW) + 100))), "exp"),
        ("exp_bool", sign(claims(exp=True)), "exp"),
        ("exp_infinity", raw_token(header, claims(exp=float("inf"))), "Invalid token"),
        ("nbf_future", sign(claims(nbf=NOW + 100)), "not yet valid"),
        ("wrong_key", sign(claims(), key=OTHER_KEY), "Signature verification failed"),
        ("tampered", f"{h}.{tampered_payload}.{s}", "Signature verification failed"),
        ("sig_stripped", f"{h}.{p}.", "Signature verification failed"),
        ("alg_none", pyjwt.encode(claims(), None, algorithm="none"), "alg"),
        ("alg_none_signed", raw_token({"alg": "none"}, claims()), "alg"),
        ("alg_HS512", sign(claims(), alg="HS512"), "alg"),
        ("alg_HS384", sign(claims(), alg="HS384"), "alg"),
        ("alg_RS256", raw_token({"alg": "RS256", "typ": "JWT"}, claims(), sig=b"x" * 256), "alg"),
        ("no_alg", raw_token({"typ": "JWT"}, claims()), "alg"),
        ("garbage", "garbage", "Invalid token"),
        ("two_parts", f"{h}.{p}", "Invalid token"),
        ("four_parts", f"{good}.x", "Invalid token"),
        ("bad_base64", f"{h}.@@@.{s}", "Invalid token"),
        ("bad_json_header", f"{_b64(b'{nope')}.{p}.{s}", "Invalid token"),
        ("payload_not_object", raw_token(header, [1, 2]), "Invalid token"),
        ("payload_not_json", raw_token(header, b"{not json"), "Invalid token: payload is not JSON"),
        ("crit_header", raw_token({"alg": "HS256", "crit": ["b64"], "b64": False}, claims()), "critical"),
        ("sig_noncanonical", f"{h}.{p}.{s[:-1]}{'B' if s[-1] == 'A' else 'A'}", "Signature verification failed"),
        ("sig_padded", f"{h}.{p}.{s}=", "Invalid token"),
        ("sig_std_b64", f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}+", "Invalid token"),
        ("spaces", f" {good}", "Invalid token"),
        ("unicode", "ñ.ñ.ñ", "Invalid token"),
        ("no_workspace", sign(claims(workspace_id=_DROP)), "Workspace ID missing in JWT token"),
        ("workspace_not_str", sign(claims(workspace_id=1)), "Workspace ID missing in JWT token"),
        ("other_workspace", sign(claims(workspace_id="other-ws")), "Workspace with ID other-ws not found"),
        ("no_name", sign(claims(name=_DROP)), "Name missing"),
        ("empty_name", sign(claims(name="")), "Name missing"),
        ("name_not_str", sign(claims(name=["a"])), "Name missing"),
        ("no_scopes", sign(claims(scopes=_DROP)), "scopes"),
        ("empty_scopes", sign(claims(scopes=[])), "scopes"),
        ("scopes_not_list", sign(claims(scopes={"type": "PIPES:READ", "resource": "p"})), "scopes"),
        ("unknown_scope", sign(claims(scopes=[{"type": "ADMIN"}])), "only PIPES:READ and DATASOURCES:READ"),
        (
            "append_scope",
            sign(claims(scopes=[{"type": "DATASOURCES:APPEND", "resource": "d"}])),
            "only PIPES:READ",
        ),
        (
            "one_bad_scope",
            sign(claims(scopes=[{"type": "PIPES:READ", "resource": "p"}, {"type": "TOKENS"}])),
            "only PIPES:READ",
        ),
        ("scope_string", sign(claims(scopes=["PIPES:READ:p"])), "Invalid scope"),
        ("no_resource", sign(claims(scopes=[{"type": "PIPES:READ"}])), "resource name is required"),
        ("resource_int", sign(claims(scopes=[{"type": "PIPES:READ", "resource": 7}])), "resource name"),
        (
            "fixed_params_str",
            sign(claims(scopes=[{"type": "PIPES:READ", "resource": "p", "fixed_params": "org=a"}])),
            "fixed_params",
        ),
        (
            "filter_not_str",
            sign(claims(scopes=[{"type": "DATASOURCES:READ", "resource": "d", "filter": 1}])),
            "filter",
        ),
        (
            "filter_on_pipe",
            sign(claims(scopes=[{"type": "PIPES:READ", "resource": "p", "filter": "a = 1"}])),
            "filter",
        ),
        ("limits_list", sign(claims(limits=[10])), "limits"),
        ("rps_str", sign(claims(limits={"rps": "10"})), "limits.rps"),
        ("rps_negative", sign(claims(limits={"rps": -1})), "limits.rps"),
        ("rps_float", sign(claims(limits={"rps": 1.5})), "limits.rps"),
        ("rps_bool", sign(claims(limits={"rps": True})), "limits.rps"),
    ]


REFUSALS = _refusals()


@pytest.mark.parametrize(("case", "token", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals(case: str, token: str, reason: str) -> None:
    with pytest.raises(Forbidden) as ei:
        verify(token)
    e = ei.value
    assert e.status == 403
    assert e.message.startswith("invalid authentication token. ")
    assert reason in e.message
    assert token not in e.message or len(token) < 10  # never echo the token
    # and the same through the cache, twice (negative entries must not turn into acceptances)
    cache = JWTCache()
    for _ in range(2):
        with pytest.raises(Forbidden):
            cache.verify(token, workspace_id=WS, signing_key=KEY, now=NOW)


def test_refused_when_empty() -> None:
    with pytest.raises(Forbidden):
        verify("")


def test_mint_jwt_payload() -> None:
    t = mint_jwt(
        workspace_id=WS,
        signing_key=KEY,
        name="n1",
        scopes=[
            {"type": "PIPES:READ", "resource": "p", "fixed_params": {"org": "a"}},
            {"type": "DATASOURCES:READ", "resource": "d", "filter": "x = 1"},
        ],
        expiration_time=int(NOW) + 60,
        limits={"rps": 5},
    )
    assert pyjwt.get_unverified_header(t)["alg"] == "HS256"
    payload = pyjwt.decode(t, KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert payload == {
        "workspace_id": WS,
        "exp": int(NOW) + 60,
        "name": "n1",
        "scopes": [
            {"type": "PIPES:READ", "resource": "p", "fixed_params": {"org": "a"}},
            {"type": "DATASOURCES:READ", "resource": "d", "filter": "x = 1"},
        ],
        "limits": {"rps": 5},
    }
    p = verify(t)
    assert p.rps_limit == 5 and len(p.scopes) == 2

    t2 = mint_jwt(
        workspace_id=WS,
        signing_key=KEY,
        name="n2",
        scopes=[{"type": "PIPES:READ", "resource": "p"}],
        expiration_time=int(NOW) + 60,
    )
    payload2 = pyjwt.decode(t2, KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert "limits" not in payload2
    assert payload2["scopes"] == [{"type": "PIPES:READ", "resource": "p"}]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scopes": []},
        {"scopes": [{"type": "ADMIN"}]},
        {"name": ""},
        {"expiration_time": "soon"},
        {"limits": {"rps": -2}},
        {"limits": "x"},
    ],
)
def test_mint_jwt_errors(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "workspace_id": WS,
        "signing_key": KEY,
        "name": "n",
        "scopes": [{"type": "PIPES:READ", "resource": "p"}],
        "expiration_time": int(NOW) + 60,
    }
    args.update(kwargs)
    with pytest.raises(BadRequest):
        mint_jwt(**args)


def test_cache_hit_and_exp_honoured() -> None:
    cache = JWTCache()
    t = sign(claims(exp=NOW + 10))
    p1 = cache.verify(t, workspace_id=WS, signing_key=KEY, now=NOW)
    p2 = cache.verify(t, workspace_id=WS, signing_key=KEY, now=NOW + 9)
    assert p1 is p2
    assert len(cache) == 1
    with pytest.raises(Forbidden, match="Signature has expired"):
        cache.verify(t, workspace_id=WS, signing_key=KEY, now=NOW + 10)
    with pytest.raises(Forbidden, match="Signature has expired"):
        cache.verify(t, workspace_id=WS, signing_key=KEY, now=NOW + 11)


def test_cache_keyed_by_signing_key_and_workspace() -> None:
    cache = JWTCache()
    t = sign(claims())
    cache.verify(t, workspace_id=WS, signing_key=KEY, now=NOW)
    # the admin token was refreshed: the old JWT must fail even though it is cached
    with pytest.raises(Forbidden, match="Signature verification failed"):
        cache.verify(t, workspace_id=WS, signing_key=OTHER_KEY, now=NOW)
    with pytest.raises(Forbidden, match="Workspace with ID"):
        cache.verify(t, workspace_id="another", signing_key=KEY, now=NOW)
    # and it is still fine under the right key
    assert cache.verify(t, workspace_id=WS, signing_key=KEY, now=NOW).name == "tenant_42"


def test_cache_not_yet_valid_is_not_cached_as_refusal() -> None:
    cache = JWTCache()
    t = sign(claims(nbf=NOW + 5))
    with pytest.raises(Forbidden, match="not yet valid"):
        cache.verify(t, workspace_id=WS, signing_key=KEY, now=NOW)
    assert cache.verify(t, workspace_id=WS, signing_key=KEY, now=NOW + 6).name == "tenant_42"


def test_cache_bounded() -> None:
    cache = JWTCache(maxsize=5)
    for i in range(12):
        cache.verify(sign(claims(name=f"n{i}")), workspace_id=WS, signing_key=KEY, now=NOW)
        assert len(cache) <= 5
    for i in range(12):
        with pytest.raises(Forbidden):
            cache.verify(f"bad{i}", workspace_id=WS, signing_key=KEY, now=NOW)
        assert len(cache._bad) <= 5


def test_cache_real_time_expiry() -> None:
    """Functional (not timing) check with the real clock: a cached JWT stops working after exp."""
    cache = JWTCache()
    exp = time.time() + 1.0
    t = sign(claims(exp=exp))
    assert cache.verify(t, workspace_id=WS, signing_key=KEY).name == "tenant_42"
    assert cache.verify(t, workspace_id=WS, signing_key=KEY).name == "tenant_42"
    while time.time() <= exp:
        time.sleep(0.05)
    with pytest.raises(Forbidden, match="Signature has expired"):
        cache.verify(t, workspace_id=WS, signing_key=KEY)
