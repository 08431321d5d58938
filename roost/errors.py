"""The exception tree of Roost and its HTTP mapping.

Every error a caller can see is a ``RoostError``; the app turns it into the one JSON shape
``{"error": "...", "documentation": "..."}`` with the status Tinybird uses::

    RoostError (500, never raised for bad input)
    ├── BadRequest (400)           bad parameter, bad SQL syntax, bad row, template error
    │   └── QueryLimitExceeded (400 by default; 408 for a timeout)  a resource limit stopped a query
    ├── Forbidden (403)            missing/invalid token, missing scope, forbidden table/function
    ├── NotFound (404)             unknown data source, pipe, token, job
    ├── MethodNotAllowed (405)
    ├── Conflict (409)             name exists, dependencies on drop
    ├── PayloadTooLarge (413)      body over the configured limit
    ├── TooManyRequests (429)      rate limit, with the four X-RateLimit/Retry-After headers
    └── ServiceUnavailable (503)   backpressure

An error may carry ``body`` (a template's ``custom_error``) that replaces the JSON body.
"""

from __future__ import annotations

from typing import Any

DOCS = "https://docs.tinybird.co"
DOC_AUTH = f"{DOCS}/api-reference/overview#authentication"
DOC_TOKENS = f"{DOCS}/api-reference/token-api.html#scopes-and-tokens"
DOC_DATASOURCES = f"{DOCS}/api-reference/datasource-api.html"
DOC_QUERY = f"{DOCS}/api-reference/query-api.html"
DOC_PIPES = f"{DOCS}/api-reference/pipe-api.html"
DOC_PARAMS = f"{DOCS}/query/query-parameters.html"
DOC_LIMITS = f"{DOCS}/api-reference/api-reference.html#limits"
DOC_EVENTS = f"{DOCS}/api-reference/events-api.html"


class RoostError(Exception):
    """Base of every error shown to a caller."""

    status: int = 500
    documentation: str = DOCS

    def __init__(
        self,
        message: str,
        *,
        documentation: str | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if documentation is not None:
            self.documentation = documentation
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.body = body

    def to_json(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        return {"error": self.message, "documentation": self.documentation}


class BadRequest(RoostError):
    status = 400


class QueryLimitExceeded(BadRequest):
    """A query hit a resource limit (time, memory, result size, rows to read)."""

    documentation = DOC_LIMITS


class Forbidden(RoostError):
    status = 403
    documentation = DOC_AUTH


class NotFound(RoostError):
    status = 404


class MethodNotAllowed(RoostError):
    status = 405


class Conflict(RoostError):
    status = 409


class PayloadTooLarge(RoostError):
    status = 413
    documentation = DOC_LIMITS


class TooManyRequests(RoostError):
    status = 429
    documentation = DOC_LIMITS


class ServiceUnavailable(RoostError):
    status = 503
