"""Scope strings, JWT scope objects and catalog scope records -> ``Scope`` (reference §1.3, §2.1).

Scope strings have the form ``TYPE[:resource[:filter]]``. When the first segment is ``DATASOURCES``
or ``PIPES`` the type takes two segments; the next one is the resource; everything after it,
re-joined with ``:``, is the SQL filter (so a filter may contain ``:``).

Whether a resource exists and whether a filter is a valid boolean expression over its columns is
decided by the caller through the ``validate`` callback of ``parse_scopes``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from roost.auth.principal import (
    ADMIN,
    DATASOURCES_READ,
    FILTER_SCOPES,
    PIPES_READ,
    RESOURCE_SCOPES,
    SCOPE_TYPES,
    Scope,
)
from roost.errors import DOC_TOKENS, BadRequest

TWO_SEGMENT_PREFIXES = ("DATASOURCES", "PIPES")
# Internal Tinybird scopes that can never be granted through the API.
FORBIDDEN_TYPES = ("ADMIN_USER", "AUTH")
# Scopes a JWT may carry, and what each may carry besides its resource.
JWT_SCOPE_TYPES = (PIPES_READ, DATASOURCES_READ)

Validator = Callable[[Scope], Scope]


def _bad(message: str) -> BadRequest:
    return BadRequest(message, documentation=DOC_TOKENS)


def _clean_filter(f: str | None) -> str | None:
    if f is None:
        return None
    f = f.strip()
    return f or None


def parse_scope(text: str) -> Scope:
    """One scope string -> Scope, with Tinybird's parsing rules and error words (all 400)."""
    if not isinstance(text, str) or not text:
        raise _bad("Unknown scope ")
    parts = text.split(":")
    head = parts[0]
    if head in TWO_SEGMENT_PREFIXES and len(parts) >= 2:
        type_ = f"{head}:{parts[1]}"
        rest = parts[2:]
    else:
        type_ = head
        rest = parts[1:]
    if type_ in FORBIDDEN_TYPES:
        raise _bad(f"Cannot set {type_} scope, please provide a different target scope")
    if type_ not in SCOPE_TYPES:
        raise _bad(f"Unknown scope {':'.join(parts[:2])}")
    resource = rest[0] if rest else None
    raw_filter = ":".join(rest[1:]) if len(rest) > 1 else None

    if raw_filter is not None and type_ not in FILTER_SCOPES:
        raise _bad("filters can't only be applied to READ scope")
    if type_ in RESOURCE_SCOPES:
        if not resource:
            raise _bad(f"scope '{type_}' requires a resource")
        return Scope(type_, resource, _clean_filter(raw_filter))
    if resource is not None:
        if type_ in (ADMIN, "TOKENS"):
            # Tinybird validates the first two segments as a scope name: "ADMIN:x" is unknown.
            raise _bad(f"Unknown scope {':'.join(parts[:2])}")
        raise _bad(f"scope '{type_}' does not take a resource")
    return Scope(type_)


def parse_scopes(
    texts: Iterable[str],
    *,
    caller_is_admin: bool,
    validate: Validator | None = None,
    required: bool = True,
) -> list[Scope]:
    """Scope strings of a token create/update -> Scopes, checked and de-duplicated (order kept).

    ``required``: an empty list is 400 ``scope is mandatory`` (POST); pass False for PUT, which
    replaces the scopes and may leave none. ``ADMIN`` may only be granted by an admin caller.
    ``validate`` is called with every parsed scope (resource existence, filter validation) and
    returns the scope to keep (for example with a canonical resource name); it raises to refuse.
    """
    items = list(texts)
    if not items:
        if required:
            raise _bad("scope is mandatory")
        return []
    out: list[Scope] = []
    seen: set[tuple[str, str | None, str | None]] = set()
    for text in items:
        scope = parse_scope(text)
        if scope.type == ADMIN and not caller_is_admin:
            raise _bad("Cannot set ADMIN scope, please provide a different target scope")
        if validate is not None:
            scope = validate(scope)
        key = (scope.type, scope.resource, scope.filter)
        if key not in seen:
            seen.add(key)
            out.append(scope)
    return out


def scope_from_json(obj: Any) -> Scope:
    """A JWT scope object ``{type, resource, fixed_params?, filter?}`` -> Scope.

    Only ``PIPES:READ`` (optional ``fixed_params`` object) and ``DATASOURCES:READ`` (optional
    ``filter`` string) are accepted; anything else raises BadRequest. ``null`` and empty values
    count as absent.
    """
    if not isinstance(obj, dict):
        raise _bad("Invalid scope, each scope must be an object")
    type_ = obj.get("type")
    if type_ not in JWT_SCOPE_TYPES:
        raise _bad("Invalid scope, only PIPES:READ and DATASOURCES:READ are allowed")
    resource = obj.get("resource")
    if not isinstance(resource, str) or not resource:
        raise _bad(f"When creating a jwt token for {type_}, a resource name is required")
    fixed_params = obj.get("fixed_params")
    filter_ = obj.get("filter")
    if fixed_params is not None and not isinstance(fixed_params, dict):
        raise _bad("Invalid scope, fixed_params must be an object")
    if filter_ is not None and not isinstance(filter_, str):
        raise _bad("Invalid scope, filter must be a string")
    filter_ = _clean_filter(filter_)
    if type_ == PIPES_READ:
        if filter_ is not None:
            raise _bad("Invalid scope, filter is only allowed on DATASOURCES:READ")
        return Scope(type_, resource, fixed_params=dict(fixed_params) if fixed_params else None)
    if fixed_params:
        raise _bad("Invalid scope, fixed_params is only allowed on PIPES:READ")
    return Scope(type_, resource, filter_)


def scope_to_jwt_json(scope: Scope) -> dict[str, Any]:
    """The JWT claim form of a scope: ``{type, resource, fixed_params?, filter?}``."""
    out: dict[str, Any] = {"type": scope.type, "resource": scope.resource}
    if scope.fixed_params is not None:
        out["fixed_params"] = scope.fixed_params
    if scope.filter:
        out["filter"] = scope.filter
    return out


def scopes_to_json(scopes: Iterable[Scope]) -> list[dict[str, Any]]:
    """Scopes -> the JSON list stored in the catalog and shown in token objects."""
    return [s.to_json() for s in scopes]


def scope_from_record(rec: dict[str, Any]) -> Scope:
    """A stored scope object ``{type, resource?, filter?, fixed_params?}`` -> Scope.

    Raises ValueError for a record that is not a valid scope (the verifier then drops it).
    """
    type_ = rec.get("type")
    if type_ not in SCOPE_TYPES:
        raise ValueError(f"unknown scope type {type_!r}")
    if type_ not in RESOURCE_SCOPES:
        return Scope(type_)
    resource = rec.get("resource")
    if not isinstance(resource, str) or not resource:
        raise ValueError(f"scope {type_} without a resource")
    filter_ = rec.get("filter")
    fixed_params = rec.get("fixed_params")
    if type_ not in FILTER_SCOPES:
        return Scope(type_, resource)
    if filter_ is not None and not isinstance(filter_, str):
        raise ValueError(f"scope {type_} with a non-string filter")
    if fixed_params is not None and not isinstance(fixed_params, dict):
        raise ValueError(f"scope {type_} with non-object fixed_params")
    return Scope(type_, resource, _clean_filter(filter_), dict(fixed_params) if fixed_params else None)
