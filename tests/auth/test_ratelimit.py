from __future__ import annotations

import threading

import pytest

from roost.auth.ratelimit import LIMIT, REMAINING, RESET, RETRY_AFTER, RateLimiter
from roost.errors import TooManyRequests

T0 = 1000.0


def test_burst_then_steady_rate() -> None:
    """rps=2 with Tinybird's burst (max_burst = rps): 3 at once, then one every 0.5 s."""
    rl = RateLimiter()
    got = [rl.check("k", 2, now=T0).allowed for _ in range(5)]
    assert got == [True, True, True, False, False]
    assert not rl.check("k", 2, now=T0 + 0.49).allowed
    assert rl.check("k", 2, now=T0 + 0.5).allowed
    assert not rl.check("k", 2, now=T0 + 0.5).allowed
    assert rl.check("k", 2, now=T0 + 1.0).allowed
    # after a long pause the full burst is available again
    assert [rl.check("k", 2, now=T0 + 100).allowed for _ in range(4)] == [True, True, True, False]


def test_long_run_rate() -> None:
    rl = RateLimiter()
    allowed = 0
    for i in range(10_000):  # 100 requests per second for 100 s against rps=10
        if rl.check("k", 10, now=T0 + i * 0.01).allowed:
            allowed += 1
    assert 10 * 100 <= allowed <= 10 * 100 + 11


def test_headers_always_four_integers() -> None:
    rl = RateLimiter()
    for i in range(8):
        r = rl.check("k", 3, now=T0 + i * 0.01)
        assert set(r.headers) == {LIMIT, REMAINING, RESET, RETRY_AFTER}
        for v in r.headers.values():
            assert int(v) >= 0 and str(int(v)) == v


def test_header_values() -> None:
    rl = RateLimiter()
    r1 = rl.check("k", 2, now=T0)
    assert r1.headers == {LIMIT: "3", REMAINING: "2", RESET: "1", RETRY_AFTER: "0"}
    r2 = rl.check("k", 2, now=T0)
    assert r2.headers[REMAINING] == "1"
    r3 = rl.check("k", 2, now=T0)
    assert r3.allowed and r3.headers[REMAINING] == "0"
    r4 = rl.check("k", 2, now=T0)
    assert not r4.allowed
    assert r4.headers[REMAINING] == "0"
    assert r4.headers[RETRY_AFTER] == "1"  # 0.5 s, whole seconds + 1 like Tinybird
    assert r4.retry_after == 1
    assert int(r4.headers[RESET]) >= 1


def test_retry_after_grows_for_slow_limits() -> None:
    rl = RateLimiter()
    assert rl.check("k", 1, period=10.0, max_burst=0, now=T0).allowed
    r = rl.check("k", 1, period=10.0, max_burst=0, now=T0 + 1)
    assert not r.allowed
    assert r.headers[RETRY_AFTER] == "10"  # 9 s left -> 9 + 1
    assert r.headers[LIMIT] == "1"


def test_keys_are_independent() -> None:
    rl = RateLimiter()
    for _ in range(2):
        assert rl.check("jwt:pipe_a:tenant", 1, now=T0).allowed
    assert not rl.check("jwt:pipe_a:tenant", 1, now=T0).allowed
    assert rl.check("jwt:pipe_b:tenant", 1, now=T0).allowed
    assert rl.check("jwt:pipe_a:other", 1, now=T0).allowed


def test_unlimited() -> None:
    rl = RateLimiter()
    for _ in range(100):
        r = rl.check("k", 0, now=T0)
        assert r.allowed and r.headers == {}
    assert len(rl) == 0


def test_error() -> None:
    rl = RateLimiter()
    rl.check("k", 1, now=T0)
    rl.check("k", 1, now=T0)
    r = rl.check("k", 1, now=T0)
    assert not r.allowed
    e = r.error()
    assert isinstance(e, TooManyRequests) and e.status == 429
    assert e.message == "Too many requests: retry after 2 seconds"  # 1 s left -> 1 + 1
    assert e.headers == r.headers
    with pytest.raises(TooManyRequests):
        r.raise_if_limited()
    rl.check("other", 1, now=T0).raise_if_limited()


def test_purge_bounds_memory() -> None:
    rl = RateLimiter(max_keys=100)
    for i in range(1000):
        rl.check(f"k{i}", 10, now=T0 + i)  # each key has drained by the next second
    assert len(rl) <= 100
    rl.reset()
    assert len(rl) == 0


def test_thread_safe_count() -> None:
    rl = RateLimiter()
    allowed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        n = sum(1 for _ in range(200) if rl.check("shared", 50, now=T0).allowed)
        with lock:
            allowed.append(n)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 51  # burst of max_burst + 1 at a single instant, no more
