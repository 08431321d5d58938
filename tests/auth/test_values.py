from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost.auth.secret import load_secret
from roost.auth.values import check_value, is_jwt, mint_value, value_hash, value_payload

SECRET = b"s" * 32


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def test_format_matches_tinybird() -> None:
    ws = "05d8b3a4-1c2e-4f5a-9b6c-7d8e9f0a1b2c"
    v = mint_value(ws, SECRET, host="gcp-europe-west3")
    prefix, payload_b64, sig = v.split(".")
    assert prefix == "p"
    assert v.startswith("p.eyJ1IjogIj")  # {"u": "0  with Python's default separators
    assert "=" not in v
    payload = base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4))
    obj = json.loads(payload)
    assert list(obj) == ["u", "id", "host"]
    assert obj["u"] == ws and obj["host"] == "gcp-europe-west3"
    assert payload.decode() == json.dumps(obj)  # default separators
    expected = _b64(hmac.new(SECRET, payload_b64.encode(), hashlib.sha256).digest())
    assert sig == expected
    assert value_payload(v) == obj


def test_host_none_and_fresh_ids() -> None:
    a = mint_value("ws", SECRET)
    b = mint_value("ws", SECRET)
    assert a != b
    pa, pb = value_payload(a), value_payload(b)
    assert pa is not None and pb is not None
    assert pa["host"] is None and pa["id"] != pb["id"]


def test_check_value() -> None:
    v = mint_value("ws", SECRET)
    assert check_value(v, SECRET)
    assert not check_value(v, b"other" * 8)
    p, payload, sig = v.split(".")
    bad = [
        "",
        "p",
        "p.",
        "p..",
        f"p.{payload}",
        f"{v}.x",
        f"s.{payload}.{sig}",
        f"p.{payload}.{sig[:-1]}",
        f"p.{payload}.{sig}A",
        f"p.{payload[:-2]}.{sig}",
        f"p.{payload}.{sig[:-1]}é",
        f"p.{payload}.\udcff",
        "p." + "A" * 10000 + "." + sig,
    ]
    for value in bad:
        assert not check_value(value, SECRET), value


@settings(database=None)
@given(st.text(max_size=300))
def test_check_value_never_raises(s: str) -> None:
    assert check_value(s, SECRET) is False


def test_value_hash_and_is_jwt() -> None:
    v = mint_value("ws", SECRET)
    assert value_hash(v) == hashlib.sha256(v.encode()).hexdigest()
    assert len(value_hash(v)) == 64
    assert not is_jwt(v)
    assert is_jwt("eyJhbGciOiJIUzI1NiJ9.e30.x")
    assert is_jwt("p")
    assert is_jwt("P.abc.def")
    assert value_payload("garbage") is None
    assert value_payload("p.!!!.x") is None


def test_load_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROOST_SECRET", raising=False)
    d = tmp_path / "data"
    s1 = load_secret(d)
    f = d / "secret"
    assert f.exists()
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert len(bytes.fromhex(s1.decode())) == 32
    assert load_secret(d) == s1  # stable across restarts
    assert [p.name for p in d.iterdir()] == ["secret"]  # no temp files left


def test_load_secret_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_SECRET", " from-env \n")
    assert load_secret(tmp_path) == b"from-env"
    assert not (tmp_path / "secret").exists()
    monkeypatch.setenv("ROOST_SECRET", "  ")
    with pytest.raises(ValueError):
        load_secret(tmp_path)


def test_load_secret_file_equals_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROOST_SECRET", raising=False)
    s = load_secret(tmp_path)
    monkeypatch.setenv("ROOST_SECRET", (tmp_path / "secret").read_text())
    assert load_secret(tmp_path) == s


def test_load_secret_existing_file_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROOST_SECRET", raising=False)
    f = tmp_path / "secret"
    fd = os.open(f, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"abc123\n")
    os.close(fd)
    assert load_secret(tmp_path) == b"abc123"
