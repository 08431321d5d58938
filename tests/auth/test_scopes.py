from __future__ import annotations

from typing import Any

import pytest

from roost.auth.principal import Scope
from roost.auth.scopes import (
    parse_scope,
    parse_scopes,
    scope_from_json,
    scope_from_record,
    scope_to_jwt_json,
    scopes_to_json,
)
from roost.errors import BadRequest

PARSE_OK: list[tuple[str, Scope]] = [
    ("ADMIN", Scope("ADMIN")),
    ("TOKENS", Scope("TOKENS")),
    ("DATASOURCES:CREATE", Scope("DATASOURCES:CREATE")),
    ("PIPES:CREATE", Scope("PIPES:CREATE")),
    ("DATASOURCES:APPEND:events", Scope("DATASOURCES:APPEND", "events")),
    ("DATASOURCES:DROP:events", Scope("DATASOURCES:DROP", "events")),
    ("PIPES:DROP:top", Scope("PIPES:DROP", "top")),
    ("DATASOURCES:READ:events", Scope("DATASOURCES:READ", "events")),
    ("PIPES:READ:top", Scope("PIPES:READ", "top")),
    ("DATASOURCES:READ:t_0123abcd", Scope("DATASOURCES:READ", "t_0123abcd")),
    # filters: everything after the resource, re-joined with ':'
    ("DATASOURCES:READ:events:org_id = 1", Scope("DATASOURCES:READ", "events", "org_id = 1")),
    ("DATASOURCES:READ:events:org_id=1", Scope("DATASOURCES:READ", "events", "org_id=1")),
    ("DATASOURCES:READ:t:col > 'a:b'", Scope("DATASOURCES:READ", "t", "col > 'a:b'")),
    (
        "DATASOURCES:READ:t:ts > '2024-01-01 10:00:00' and x == 'y'",
        Scope("DATASOURCES:READ", "t", "ts > '2024-01-01 10:00:00' and x == 'y'"),
    ),
    ("DATASOURCES:READ:t:a::b", Scope("DATASOURCES:READ", "t", "a::b")),
    ("DATASOURCES:READ:t:name = 'O''Brien'", Scope("DATASOURCES:READ", "t", "name = 'O''Brien'")),
    ('DATASOURCES:READ:t:name = "x"', Scope("DATASOURCES:READ", "t", 'name = "x"')),
    ("PIPES:READ:p:total > 10", Scope("PIPES:READ", "p", "total > 10")),
    ("DATASOURCES:READ:t:  a = 1  ", Scope("DATASOURCES:READ", "t", "a = 1")),
    # an empty filter is no filter
    ("DATASOURCES:READ:events:", Scope("DATASOURCES:READ", "events")),
    ("PIPES:READ:p:   ", Scope("PIPES:READ", "p")),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_OK)
def test_parse_ok(text: str, expected: Scope) -> None:
    assert parse_scope(text) == expected


PARSE_ERRORS: list[tuple[str, str]] = [
    ("FOO", "Unknown scope FOO"),
    ("", "Unknown scope "),
    ("admin", "Unknown scope admin"),
    ("READ:test_pipe", "Unknown scope READ:test_pipe"),
    ("DATASOURCES", "Unknown scope DATASOURCES"),
    ("DATASOURCES:WRITE:x", "Unknown scope DATASOURCES:WRITE"),
    ("PIPES:FOO", "Unknown scope PIPES:FOO"),
    ("WORKSPACE:READ_ALL", "Unknown scope WORKSPACE:READ_ALL"),
    ("ADMIN:x", "Unknown scope ADMIN:x"),
    ("TOKENS:x", "Unknown scope TOKENS:x"),
    ("ADMIN_USER", "Cannot set ADMIN_USER scope, please provide a different target scope"),
    ("ADMIN_USER:u1", "Cannot set ADMIN_USER scope, please provide a different target scope"),
    ("AUTH", "Cannot set AUTH scope, please provide a different target scope"),
    ("PIPES:DROP", "scope 'PIPES:DROP' requires a resource"),
    ("PIPES:READ", "scope 'PIPES:READ' requires a resource"),
    ("DATASOURCES:READ", "scope 'DATASOURCES:READ' requires a resource"),
    ("DATASOURCES:APPEND", "scope 'DATASOURCES:APPEND' requires a resource"),
    ("DATASOURCES:DROP:", "scope 'DATASOURCES:DROP' requires a resource"),
    ("DATASOURCES:READ::a = 1", "scope 'DATASOURCES:READ' requires a resource"),
    ("DATASOURCES:APPEND:events:a = 1", "filters can't only be applied to READ scope"),
    ("DATASOURCES:APPEND:events:", "filters can't only be applied to READ scope"),
    ("PIPES:DROP:p:x", "filters can't only be applied to READ scope"),
    ("DATASOURCES:CREATE:x:y", "filters can't only be applied to READ scope"),
    ("DATASOURCES:CREATE:x", "scope 'DATASOURCES:CREATE' does not take a resource"),
    ("PIPES:CREATE:x", "scope 'PIPES:CREATE' does not take a resource"),
]


@pytest.mark.parametrize(("text", "message"), PARSE_ERRORS)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as ei:
        parse_scope(text)
    assert ei.value.message == message
    assert ei.value.status == 400


def test_parse_scopes_mandatory_and_put() -> None:
    with pytest.raises(BadRequest, match="^scope is mandatory$"):
        parse_scopes([], caller_is_admin=True)
    assert parse_scopes([], caller_is_admin=True, required=False) == []


def test_parse_scopes_admin_only_for_admins() -> None:
    assert parse_scopes(["ADMIN"], caller_is_admin=True) == [Scope("ADMIN")]
    with pytest.raises(BadRequest, match="^Cannot set ADMIN scope, please provide a different target scope$"):
        parse_scopes(["TOKENS", "ADMIN"], caller_is_admin=False)
    assert parse_scopes(["TOKENS"], caller_is_admin=False) == [Scope("TOKENS")]


def test_parse_scopes_dedup_and_order() -> None:
    got = parse_scopes(
        [
            "PIPES:READ:p",
            "DATASOURCES:APPEND:e",
            "PIPES:READ:p",
            "DATASOURCES:READ:e:a=1",
            "DATASOURCES:READ:e:a=1",
        ],
        caller_is_admin=False,
    )
    assert got == [
        Scope("PIPES:READ", "p"),
        Scope("DATASOURCES:APPEND", "e"),
        Scope("DATASOURCES:READ", "e", "a=1"),
    ]


def test_parse_scopes_validate_callback() -> None:
    seen: list[Scope] = []

    def validate(s: Scope) -> Scope:
        seen.append(s)
        if s.resource == "missing":
            raise BadRequest(f"Unknown resource '{s.resource}'")
        if s.resource is not None:
            return Scope(s.type, s.resource.lower(), s.filter)
        return s

    got = parse_scopes(["DATASOURCES:READ:Events:a = 1", "TOKENS"], caller_is_admin=False, validate=validate)
    assert got == [Scope("DATASOURCES:READ", "events", "a = 1"), Scope("TOKENS")]
    assert len(seen) == 2
    with pytest.raises(BadRequest, match="Unknown resource 'missing'"):
        parse_scopes(["PIPES:READ:missing"], caller_is_admin=True, validate=validate)


def test_to_string_round_trip() -> None:
    for text, scope in PARSE_OK:
        assert parse_scope(scope.to_string()) == scope, text


JSON_OK: list[tuple[dict[str, Any], Scope]] = [
    ({"type": "PIPES:READ", "resource": "p"}, Scope("PIPES:READ", "p")),
    ({"type": "PIPES:READ", "resource": "p", "fixed_params": None}, Scope("PIPES:READ", "p")),
    ({"type": "PIPES:READ", "resource": "p", "fixed_params": {}}, Scope("PIPES:READ", "p")),
    (
        {"type": "PIPES:READ", "resource": "p", "fixed_params": {"org": "acme", "n": 3}},
        Scope("PIPES:READ", "p", fixed_params={"org": "acme", "n": 3}),
    ),
    ({"type": "PIPES:READ", "resource": "p", "filter": ""}, Scope("PIPES:READ", "p")),
    ({"type": "DATASOURCES:READ", "resource": "d"}, Scope("DATASOURCES:READ", "d")),
    (
        {"type": "DATASOURCES:READ", "resource": "d", "filter": "org = 'a:b'"},
        Scope("DATASOURCES:READ", "d", "org = 'a:b'"),
    ),
    ({"type": "DATASOURCES:READ", "resource": "d", "fixed_params": None}, Scope("DATASOURCES:READ", "d")),
    ({"type": "PIPES:READ", "resource": "p", "extra": 1}, Scope("PIPES:READ", "p")),
]


@pytest.mark.parametrize(("obj", "expected"), JSON_OK)
def test_scope_from_json_ok(obj: dict[str, Any], expected: Scope) -> None:
    assert scope_from_json(obj) == expected


JSON_ERRORS: list[Any] = [
    "PIPES:READ:p",
    None,
    [],
    {},
    {"type": "ADMIN"},
    {"type": "PIPES:DROP", "resource": "p"},
    {"type": "DATASOURCES:APPEND", "resource": "d"},
    {"type": "pipes:read", "resource": "p"},
    {"type": "PIPES:READ"},
    {"type": "PIPES:READ", "resource": ""},
    {"type": "PIPES:READ", "resource": 1},
    {"type": "PIPES:READ", "resource": ["p"]},
    {"type": "PIPES:READ", "resource": "p", "fixed_params": "a=1"},
    {"type": "PIPES:READ", "resource": "p", "fixed_params": [1]},
    {"type": "PIPES:READ", "resource": "p", "filter": "a = 1"},
    {"type": "DATASOURCES:READ", "resource": "d", "filter": 1},
    {"type": "DATASOURCES:READ", "resource": "d", "filter": {"a": 1}},
    {"type": "DATASOURCES:READ", "resource": "d", "fixed_params": {"a": 1}},
]


@pytest.mark.parametrize("obj", JSON_ERRORS)
def test_scope_from_json_errors(obj: Any) -> None:
    with pytest.raises(BadRequest):
        scope_from_json(obj)


def test_jwt_json_round_trip() -> None:
    for obj, scope in JSON_OK:
        assert scope_from_json(scope_to_jwt_json(scope)) == scope, obj


def test_records_round_trip() -> None:
    scopes = [s for _, s in PARSE_OK]
    stored = scopes_to_json(scopes)
    assert stored[0] == {"type": "ADMIN"}
    assert {"type": "DATASOURCES:READ", "resource": "events", "filter": ""} in stored
    assert {"type": "DATASOURCES:APPEND", "resource": "events"} in stored
    assert [scope_from_record(r) for r in stored] == scopes


@pytest.mark.parametrize(
    "rec",
    [
        {"type": "ADMIN_USER", "resource": "u"},
        {"type": "NOPE"},
        {},
        {"type": "PIPES:READ"},
        {"type": "PIPES:READ", "resource": ""},
        {"type": "DATASOURCES:READ", "resource": "d", "filter": 3},
    ],
)
def test_scope_from_record_errors(rec: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        scope_from_record(rec)
