"""The Principal: what one authenticated caller may do.

A Principal is built once per token (static or JWT) and cached; handlers and the SQL compiler
only ever ask it questions, they never look at scope strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# Scope types a token may carry (reference §1.3).
ADMIN = "ADMIN"
TOKENS = "TOKENS"
DATASOURCES_CREATE = "DATASOURCES:CREATE"
DATASOURCES_APPEND = "DATASOURCES:APPEND"
DATASOURCES_READ = "DATASOURCES:READ"
DATASOURCES_DROP = "DATASOURCES:DROP"
PIPES_CREATE = "PIPES:CREATE"
PIPES_READ = "PIPES:READ"
PIPES_DROP = "PIPES:DROP"

SCOPE_TYPES = (
    ADMIN,
    TOKENS,
    DATASOURCES_CREATE,
    DATASOURCES_APPEND,
    DATASOURCES_READ,
    DATASOURCES_DROP,
    PIPES_CREATE,
    PIPES_READ,
    PIPES_DROP,
)
RESOURCE_SCOPES = (DATASOURCES_APPEND, DATASOURCES_READ, DATASOURCES_DROP, PIPES_READ, PIPES_DROP)
FILTER_SCOPES = (DATASOURCES_READ, PIPES_READ)


@dataclass(frozen=True)
class Scope:
    """One scope of a token. ``resource`` is a data source or pipe name."""

    type: str
    resource: str | None = None
    filter: str | None = None
    fixed_params: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type in RESOURCE_SCOPES:
            out["resource"] = self.resource
        if self.type in FILTER_SCOPES:
            out["filter"] = self.filter or ""
        if self.fixed_params is not None:
            out["fixed_params"] = self.fixed_params
        return out

    def to_string(self) -> str:
        parts = [self.type]
        if self.resource is not None:
            parts.append(self.resource)
            if self.filter:
                parts.append(self.filter)
        return ":".join(parts)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    token_id: str
    name: str
    kind: Literal["static", "jwt"]
    scopes: tuple[Scope, ...] = ()
    rps_limit: int | None = None
    expires_at: float | None = None
    _index: dict[tuple[str, str | None], Scope] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for s in self.scopes:
            self._index.setdefault((s.type, s.resource), s)

    # --- questions -------------------------------------------------------------------------
    @property
    def is_admin(self) -> bool:
        return (ADMIN, None) in self._index

    def has(self, scope_type: str, resource: str | None = None) -> bool:
        if self.is_admin:
            return True
        return (scope_type, resource) in self._index

    def may_manage_tokens(self) -> bool:
        return self.is_admin or (TOKENS, None) in self._index

    def may_create_datasources(self) -> bool:
        return self.is_admin or (DATASOURCES_CREATE, None) in self._index

    def may_append(self, ds: str) -> bool:
        return self.may_create_datasources() or (DATASOURCES_APPEND, ds) in self._index

    def may_drop_datasource(self, ds: str) -> bool:
        return self.may_create_datasources() or (DATASOURCES_DROP, ds) in self._index

    def may_create_pipes(self) -> bool:
        return self.is_admin or (PIPES_CREATE, None) in self._index

    def may_drop_pipe(self, pipe: str) -> bool:
        return self.may_create_pipes() or (PIPES_DROP, pipe) in self._index

    def datasource_read(self, ds: str) -> Scope | None:
        """The READ scope on ``ds`` (its filter applies), or None when it may not read it.

        Admin and DATASOURCES:CREATE read everything unfiltered: a synthetic scope is returned.
        """
        s = self._index.get((DATASOURCES_READ, ds))
        if s is not None:
            return s
        if self.is_admin:
            return Scope(DATASOURCES_READ, ds)
        return None

    def pipe_read(self, pipe: str) -> Scope | None:
        s = self._index.get((PIPES_READ, pipe))
        if s is not None:
            return s
        if self.is_admin:
            return Scope(PIPES_READ, pipe)
        return None

    def may_read_service_datasources(self) -> bool:
        return self.is_admin

    def readable_datasources(self) -> list[str]:
        return [s.resource for s in self.scopes if s.type == DATASOURCES_READ and s.resource]

    def readable_pipes(self) -> list[str]:
        return [s.resource for s in self.scopes if s.type == PIPES_READ and s.resource]

    def readable_key(self) -> tuple[tuple[str, str], ...]:
        """A hashable summary of what this caller may read (for compile caches)."""
        return tuple(sorted((s.type, s.resource or "") for s in self.scopes))

    def filter_key(self) -> tuple[tuple[str, str, str], ...]:
        """A hashable summary of every filter this caller carries (for compile caches)."""
        return tuple(
            sorted(
                (s.type, s.resource or "", s.filter or "")
                for s in self.scopes
                if s.type in FILTER_SCOPES
            )
        ) + ((("ADMIN", "", ""),) if self.is_admin else ())
