"""In-memory rate limiter: GCRA with redis-cell's semantics, as Tinybird uses it (reference §2.4, §11).

Tinybird calls ``CL.THROTTLE <key> <max_burst> <count> <period> 1`` with ``count = max_burst = rps`` and
``period = 1`` for JWT limits. With redis-cell that admits ``max_burst + 1`` requests at once and one
more every ``period / count`` seconds after that. Headers mirror Tinybird: ``X-RateLimit-Limit`` is
``max_burst + 1``; ``X-RateLimit-Reset`` and ``Retry-After`` are redis-cell's whole seconds plus 1.

All four headers are always sent, as integer strings, whenever a limit applied: the Python SDK parses
all four with ``int()`` as soon as ``X-RateLimit-Limit`` is present. ``Retry-After`` is ``0`` when
the request was allowed.

Keys are built by the caller (for JWTs: per pipe and JWT name). State is one float per key,
behind one lock; keys whose state has fully drained are purged when the table grows.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from roost.errors import TooManyRequests

LIMIT = "X-RateLimit-Limit"
REMAINING = "X-RateLimit-Remaining"
RESET = "X-RateLimit-Reset"
RETRY_AFTER = "Retry-After"


@dataclass(frozen=True, slots=True)
class RateResult:
    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: int = 0

    def error(self) -> TooManyRequests:
        """The 429 to raise when not allowed (carries the headers)."""
        return TooManyRequests(f"Too many requests: retry after {self.retry_after} seconds", headers=dict(self.headers))

    def raise_if_limited(self) -> None:
        if not self.allowed:
            raise self.error()


_UNLIMITED = RateResult(True)


class RateLimiter:
    def __init__(self, *, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}  # key -> theoretical arrival time (monotonic seconds)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tat)

    def check(
        self,
        key: str,
        rps: int,
        *,
        max_burst: int | None = None,
        period: float = 1.0,
        now: float | None = None,
    ) -> RateResult:
        """Count one request against ``key``: ``rps`` per ``period`` with ``max_burst`` (default rps).

        ``rps <= 0`` means no limit (allowed, no headers).
        """
        if rps <= 0:
            return _UNLIMITED
        burst = rps if max_burst is None else max(0, max_burst)
        t = time.monotonic() if now is None else now
        interval = period / rps  # emission interval
        tolerance = interval * (burst + 1)  # delay variation tolerance
        with self._lock:
            tat = self._tat.get(key, t)
            new_tat = (t if t > tat else tat) + interval
            diff = t - (new_tat - tolerance)
            if diff < 0:
                allowed = False
                retry = -diff
                ttl = tat - t
            else:
                allowed = True
                retry = -1.0
                ttl = new_tat - t
                if len(self._tat) >= self.max_keys and key not in self._tat:
                    self._purge(t)
                self._tat[key] = new_tat
        nxt = tolerance - ttl
        remaining = int(nxt / interval) if nxt > -interval else 0
        retry_after = int(retry) + 1 if retry >= 0 else 0
        reset = int(math.floor(max(ttl, 0.0))) + 1
        headers = {
            LIMIT: str(burst + 1),
            REMAINING: str(max(remaining, 0)),
            RESET: str(reset),
            RETRY_AFTER: str(retry_after),
        }
        return RateResult(allowed, headers, retry_after)

    def _purge(self, now: float) -> None:
        """Drop keys whose TAT has passed: they behave exactly like absent keys."""
        for k in [k for k, v in self._tat.items() if v <= now]:
            del self._tat[k]
        if len(self._tat) >= self.max_keys:
            # Still full of live keys: forget them all rather than scan on every new key.
            self._tat.clear()

    def reset(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._tat.clear()
            else:
                self._tat.pop(key, None)
