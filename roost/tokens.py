"""Token management: create, update, delete, refresh static tokens; mint JWTs; the audit trail.

Handlers call these. Every change bumps the catalog version and invalidates this process's
verifier caches at once (``Runtime.changed``), so a deleted or refreshed value is refused on the
very next request. Values never reach a log, an error message or the audit trail.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from roost.auth.jwt import mint_jwt
from roost.auth.principal import (
    ADMIN,
    DATASOURCES_APPEND,
    DATASOURCES_DROP,
    DATASOURCES_READ,
    PIPES_DROP,
    PIPES_READ,
    Principal,
    Scope,
)
from roost.auth.scopes import parse_scopes, scope_from_json, scopes_to_json
from roost.auth.values import mint_value, value_hash
from roost.errors import DOC_TOKENS, BadRequest, Conflict, Forbidden, NotFound, RoostError

if TYPE_CHECKING:
    from roost.runtime import Runtime

DS_SCOPES = (DATASOURCES_APPEND, DATASOURCES_READ, DATASOURCES_DROP)
PIPE_SCOPES = (PIPES_READ, PIPES_DROP)


def _bad(msg: str) -> BadRequest:
    return BadRequest(msg, documentation=DOC_TOKENS)


def is_admin_record(rec: dict[str, Any]) -> bool:
    return any(s.get("type") == ADMIN for s in rec.get("scopes") or [])


class Tokens:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # --- validation -------------------------------------------------------------------------------
    def validate_scope(self, scope: Scope) -> Scope:
        """Resources must exist; a filter must be a valid boolean expression over the columns."""

        def validate_filter(expr: str, columns: set[str] | None) -> str:
            from roost.sql.compiler import validate_filter as check

            try:
                return check(expr, columns)
            except RoostError as e:  # a forbidden function in a filter is bad input here: 400
                raise _bad(f"Invalid filter '{expr}': {e.message}") from None

        if scope.type in DS_SCOPES:
            ds = self.rt.catalog.get_datasource(scope.resource or "")
            if ds is None:
                raise _bad(f"Resource '{scope.resource}' not found: no Data Source with that name or id")
            if scope.filter:
                cols = {c["name"] for c in ds["columns"]}
                f = validate_filter(scope.filter, cols)
                return Scope(scope.type, ds["name"], f, scope.fixed_params)
            return Scope(scope.type, ds["name"], scope.filter, scope.fixed_params)
        if scope.type in PIPE_SCOPES:
            pipe = self.rt.catalog.get_pipe(scope.resource or "")
            if pipe is None:
                raise _bad(f"Resource '{scope.resource}' not found: no Pipe with that name or id")
            pipe_filter = validate_filter(scope.filter, self.pipe_columns(pipe)) if scope.filter else scope.filter
            return Scope(scope.type, pipe["name"], pipe_filter, scope.fixed_params)
        return scope

    def pipe_columns(self, pipe: dict[str, Any]) -> set[str] | None:
        try:
            return self.rt.pipes.output_columns(pipe)
        except Exception:  # a pipe that cannot run now: check the filter's syntax only
            return None

    # --- views ------------------------------------------------------------------------------------
    def to_json(self, rec: dict[str, Any], caller: Principal | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": rec["id"],
            "name": rec["name"],
            "description": rec.get("description") or "",
            "scopes": rec["scopes"],
            "origin": {"type": rec.get("origin") or "C"},
            "host": None,
            "created_at": rec.get("created_at"),
            "updated_at": rec.get("updated_at"),
            "last_used_at": rec.get("last_used_at"),
            "expires_at": rec.get("expires_at"),
            "rps_limit": rec.get("rps_limit"),
        }
        if caller is None or caller.is_admin or not is_admin_record(rec):
            out = {"token": rec["value"], **out}
        return out

    def get(self, name_or_id: str) -> dict[str, Any]:
        rec = self.rt.catalog.get_token(name_or_id)
        if rec is None:
            raise NotFound("Token not found", documentation=DOC_TOKENS)
        return rec

    def _guard_admin_target(self, rec: dict[str, Any], caller: Principal, action: str) -> None:
        if is_admin_record(rec) and not caller.is_admin:
            raise Forbidden(f"Token has not enough permissions to {action} an ADMIN token",
                            documentation=DOC_TOKENS)

    # --- static tokens ----------------------------------------------------------------------------
    def create(self, caller: Principal, *, name: str, description: str, scopes: list[str],
               expiration_time: str | None = None, rps: str | None = None, origin: str = "C") -> dict[str, Any]:
        if not name:
            raise _bad("Missing argument name")
        if len(name) > 256 or any(ord(ch) < 32 for ch in name):
            raise _bad("Invalid token name")
        if self.rt.catalog.get_token(name) is not None:
            raise Conflict(f'Token "{name}" already exists', documentation=DOC_TOKENS)
        parsed = parse_scopes(scopes, caller_is_admin=caller.is_admin, validate=self.validate_scope)
        value = mint_value(self.rt.workspace["id"], self.rt.secret)
        rec = self.rt.catalog.create_token(
            {
                "id": str(uuid.uuid4()),
                "name": name,
                "description": description,
                "value": value,
                "value_hash": value_hash(value),
                "scopes": scopes_to_json(parsed),
                "origin": origin if origin in ("C", "P", "DS") else "C",
                "expires_at": _expiration(expiration_time),
                "rps_limit": _rps(rps),
            }
        )
        self.rt.catalog.add_audit(caller.name, "create", rec["id"], rec["name"], None, rec["scopes"])
        self.rt.changed()
        return rec

    def update(self, caller: Principal, name_or_id: str, *, name: str | None, description: str | None,
               scopes: list[str] | None, expiration_time: str | None = None, rps: str | None = None
               ) -> dict[str, Any]:
        rec = self.get(name_or_id)
        self._guard_admin_target(rec, caller, "update")
        fields: dict[str, Any] = {}
        if name and name != rec["name"]:
            if self.rt.catalog.get_token(name) is not None:
                raise Conflict(f'Token "{name}" already exists', documentation=DOC_TOKENS)
            fields["name"] = name
        if description is not None:
            fields["description"] = description
        if scopes is not None:
            parsed = parse_scopes(scopes, caller_is_admin=caller.is_admin, validate=self.validate_scope,
                                  required=False)
            new_scopes = scopes_to_json(parsed)
            if is_admin_record(rec) and not any(s.type == ADMIN for s in parsed):
                raise _bad("The workspace admin token must keep the ADMIN scope")
            fields["scopes"] = new_scopes
        if expiration_time is not None:
            fields["expires_at"] = _expiration(expiration_time) if expiration_time else None
        if rps is not None:
            fields["rps_limit"] = _rps(rps) if rps else None
        new = self.rt.catalog.update_token(rec["id"], **fields) or rec
        self.rt.catalog.add_audit(caller.name, "update", rec["id"], new["name"], rec["scopes"], new["scopes"])
        self.rt.changed()
        return new

    def delete(self, caller: Principal, name_or_id: str) -> None:
        rec = self.get(name_or_id)
        self._guard_admin_target(rec, caller, "delete")
        if is_admin_record(rec):
            raise _bad("The workspace admin token cannot be deleted; refresh it instead")
        self.rt.catalog.delete_token(rec["id"])
        self.rt.catalog.add_audit(caller.name, "delete", rec["id"], rec["name"], rec["scopes"], None)
        self.rt.changed()

    def refresh(self, caller: Principal, name_or_id: str) -> dict[str, Any]:
        rec = self.get(name_or_id)
        self._guard_admin_target(rec, caller, "refresh")
        value = mint_value(self.rt.workspace["id"], self.rt.secret)
        new = self.rt.catalog.update_token(rec["id"], value=value, value_hash=value_hash(value)) or rec
        if is_admin_record(rec):
            self.rt.write_admin_token(value)
        self.rt.catalog.add_audit(caller.name, "refresh", rec["id"], rec["name"], rec["scopes"], rec["scopes"])
        self.rt.changed()
        return new

    def drop_resource_scopes(self, kinds: tuple[str, ...], resource: dict[str, Any], actor: str) -> None:
        """A dropped data source or pipe leaves every token's scopes, as in Tinybird.

        A stale ``DATASOURCES:READ:<name>`` or ``PIPES:READ:<name>`` would otherwise grant whatever is
        created later under the same name. Each change is in the audit trail.
        """
        changed = False
        for rec in self.rt.catalog.list_tokens():
            keep = [s for s in rec["scopes"]
                    if not (s.get("type") in kinds and s.get("resource") in (resource["name"], resource["id"]))]
            if len(keep) != len(rec["scopes"]):
                self.rt.catalog.update_token(rec["id"], scopes=keep)
                self.rt.catalog.add_audit(actor, "update", rec["id"], rec["name"], rec["scopes"], keep)
                changed = True
        if changed:
            self.rt.changed()

    # --- JWTs -------------------------------------------------------------------------------------
    def create_jwt(self, caller: Principal, body: dict[str, Any], name: str | None,
                   expiration_time: str | None) -> dict[str, Any]:
        name = name or body.get("name")
        if not isinstance(name, str) or not name:
            raise _bad("Missing argument name")
        exp_text = expiration_time if expiration_time is not None else body.get("expiration_time")
        try:
            exp = int(str(exp_text))
        except (TypeError, ValueError):
            raise _bad("expiration_time must be an integer unix timestamp") from None
        if exp <= time.time():
            raise _bad("expiration_time must be in the future")
        raw_scopes = body.get("scopes")
        if not isinstance(raw_scopes, list) or not raw_scopes:
            raise _bad("scopes must be a non-empty list")
        checked = []
        for obj in raw_scopes:
            s = self.validate_scope(scope_from_json(obj))
            item: dict[str, Any] = {"type": s.type, "resource": s.resource}
            if s.fixed_params:
                item["fixed_params"] = s.fixed_params
            if s.filter:
                item["filter"] = s.filter
            checked.append(item)
        limits = body.get("limits")
        key = self.rt.admin_token_value()
        if key is None:
            raise Forbidden("Workspace token for admin scope not found")
        token = mint_jwt(workspace_id=self.rt.workspace["id"], signing_key=key, name=name, scopes=checked,
                         expiration_time=exp, limits=limits if isinstance(limits, dict) else None)
        rps = limits.get("rps") if isinstance(limits, dict) else None
        return {"token": token, "name": name, "exp": exp, "scopes": [{"fixed_params": None, **c} for c in checked],
                "limits": {"rps": rps}}


def _expiration(text: str | None) -> float | None:
    if text in (None, ""):
        return None
    try:
        v = float(str(text))
    except ValueError:
        raise _bad("expiration_time must be a unix timestamp") from None
    if v <= time.time():
        raise _bad("expiration_time must be in the future")
    return v


def _rps(text: str | None) -> int | None:
    if text in (None, ""):
        return None
    try:
        v = int(str(text))
    except ValueError:
        raise _bad("rps must be an integer") from None
    if v < 0:
        raise _bad("rps must be >= 0")
    return v or None
