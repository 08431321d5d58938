"""A small typed HTTP client for the Roost (Tinybird-compatible) API, over httpx.

Connection settings come from, in order: the arguments, ``ROOST_HOST`` / ``ROOST_TOKEN``, and
the local data dir (``<ROOST_DATA_DIR or ./roost-data>/admin-token``, host
``http://127.0.0.1:<ROOST_PORT or 7181>``). Every failed call raises ``ClientError(status,
message)``; ``status`` is 0 when the server could not be reached. Token values are never part of an
error message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

DEFAULT_PORT = 7181
CHUNK = 1 << 20
LONG_URL = 4000


class ClientError(Exception):
    """A call the server refused (``status`` 4xx/5xx) or could not be made (``status`` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status else self.message


class ConfigError(Exception):
    """No usable host or token (a usage error, not a server refusal)."""


@dataclass(frozen=True)
class Connection:
    host: str
    token: str
    token_source: str  # "--token", "ROOST_TOKEN" or the admin-token file path


def normalize_host(host: str, env: Mapping[str, str] | None = None) -> str:
    """``127.0.0.1`` -> ``http://127.0.0.1:7181``; URLs are kept (trailing ``/`` dropped).

    ``0.0.0.0`` and ``::`` (what a server listens on) become the loopback address.
    """
    env = os.environ if env is None else env
    h = host.strip().rstrip("/")
    if not h:
        raise ConfigError("the host is empty")
    if "://" not in h:
        if h.count(":") > 1 and not h.startswith("["):  # a bare IPv6 address
            h = f"[{h}]"
        has_port = "]:" in h if h.startswith("[") else ":" in h
        if not has_port:
            h += ":" + (env.get("ROOST_PORT") or str(DEFAULT_PORT))
        h = "http://" + h
    try:
        parts = urlsplit(h)
        hostname = parts.hostname
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ConfigError(f"invalid host '{host}': use a URL like http://127.0.0.1:7181") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise ConfigError(f"invalid host '{host}': use a URL like http://127.0.0.1:7181")
    netloc = parts.netloc
    if hostname == "0.0.0.0":
        netloc = netloc.replace("0.0.0.0", "127.0.0.1", 1)
    elif hostname == "::":
        netloc = netloc.replace("[::]", "[::1]", 1)
    return f"{parts.scheme}://{netloc}"


def resolve_connection(host: str | None = None, token: str | None = None,
                       env: Mapping[str, str] | None = None) -> Connection:
    env = os.environ if env is None else env
    if host is None:
        host = env.get("ROOST_HOST") or None
    if host is None:
        host = f"http://127.0.0.1:{env.get('ROOST_PORT') or DEFAULT_PORT}"
    url = normalize_host(host, env)
    if token:
        return Connection(url, token.strip(), "--token")
    if env.get("ROOST_TOKEN"):
        return Connection(url, env["ROOST_TOKEN"].strip(), "ROOST_TOKEN")
    path = Path(env.get("ROOST_DATA_DIR") or "./roost-data") / "admin-token"
    try:
        value = path.read_text().strip()
    except OSError:
        value = ""
    if not value:
        raise ConfigError(f"no token: pass --token, set ROOST_TOKEN, or run where {path} exists")
    return Connection(url, value, str(path))


def _error_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        msg = body.get("error")
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            extra = "; ".join(str(e.get("error", e)) if isinstance(e, dict) else str(e) for e in errors)
            msg = f"{msg}: {extra}" if msg else extra
        if msg:
            return str(msg)
    text = resp.text.strip()
    if text and len(text) < 500 and "<html" not in text.lower():
        return text
    return resp.reason_phrase or f"HTTP {resp.status_code}"


def _q(name: str) -> str:
    return quote(name, safe="")


JSONDict = dict[str, Any]
Progress = Callable[[int], None]


class RoostClient:
    """One connection to a Roost server. Use as a context manager, or call ``close()``."""

    def __init__(self, host: str, token: str, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None,
                 ) -> None:
        self.host = host.rstrip("/")
        self._http = httpx.Client(
            base_url=self.host,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "roost-cli"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
        )

    @classmethod
    def from_connection(cls, conn: Connection, **kw: Any) -> RoostClient:
        return cls(conn.host, conn.token, **kw)

    def __enter__(self) -> RoostClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- plumbing -------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.ConnectError:
            raise ClientError(0, f"cannot connect to {self.host}: is the server running?") from None
        except httpx.TimeoutException:
            raise ClientError(0, f"{method} {path} to {self.host} timed out") from None
        except httpx.HTTPError as e:
            raise ClientError(0, f"{method} {path} to {self.host} failed: {e}") from None
        if resp.status_code >= 400:
            raise ClientError(resp.status_code, _error_message(resp))
        return resp

    def _json(self, method: str, path: str, **kw: Any) -> JSONDict:
        resp = self.request(method, path, **kw)
        if resp.status_code in (204, 205) or not resp.content.strip():
            return {}
        try:
            data = resp.json()
        except ValueError:
            raise ClientError(resp.status_code, f"{method} {path}: the server did not answer JSON") from None
        return data if isinstance(data, dict) else {"data": data}

    def _or_none(self, fn: Callable[[], JSONDict]) -> JSONDict | None:
        try:
            return fn()
        except ClientError as e:
            if e.status == 404:
                return None
            raise

    # --- workspace ------------------------------------------------------------------------------
    def workspace(self) -> JSONDict:
        return self._json("GET", "/v0/workspace")

    # --- data sources ---------------------------------------------------------------------------
    def datasources(self) -> list[JSONDict]:
        return list(self._json("GET", "/v0/datasources").get("datasources", []))

    def datasource(self, name: str) -> JSONDict:
        return self._json("GET", f"/v0/datasources/{_q(name)}")

    def datasource_or_none(self, name: str) -> JSONDict | None:
        return self._or_none(lambda: self.datasource(name))

    def datasource_text(self, name: str) -> str:
        return self.request("GET", f"/v0/datasources/{_q(name)}.datasource").text

    def create_datasource(self, params: Mapping[str, str]) -> JSONDict:
        return self._json("POST", "/v0/datasources", data=dict(params))

    def alter_datasource(self, name: str, params: Mapping[str, str]) -> JSONDict:
        return self._json("POST", f"/v0/datasources/{_q(name)}/alter", data=dict(params))

    def append(self, name: str, path: Path, fmt: str | None = None, *, gzip: bool = False,
               progress: Progress | None = None, mode: str = "append") -> JSONDict:
        """Stream a local file as the body of an append (or replace). ``progress(n)`` gets each chunk size."""
        size = path.stat().st_size

        def body() -> Iterator[bytes]:
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    if progress is not None:
                        progress(len(chunk))
                    yield chunk

        params = {"name": name, "mode": mode}
        if fmt:
            params["format"] = fmt
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        if gzip:
            headers["Content-Encoding"] = "gzip"
        return self._json("POST", "/v0/datasources", params=params, content=body(), headers=headers,
                          timeout=httpx.Timeout(None, connect=10.0))

    def truncate(self, name: str) -> None:
        self.request("POST", f"/v0/datasources/{_q(name)}/truncate")

    def delete_rows(self, name: str, condition: str, *, dry_run: bool = False) -> JSONDict:
        data = {"delete_condition": condition}
        if dry_run:
            data["dry_run"] = "true"
        return self._json("POST", f"/v0/datasources/{_q(name)}/delete", data=data)

    def drop_datasource(self, name: str, *, force: bool = False) -> None:
        self.request("DELETE", f"/v0/datasources/{_q(name)}", params={"force": "true" if force else "false"})

    # --- jobs -----------------------------------------------------------------------------------
    def job(self, job_id: str) -> JSONDict:
        return self._json("GET", f"/v0/jobs/{_q(job_id)}")

    def wait_job(self, job_id: str, *, timeout: float = 3600.0, interval: float = 0.2) -> JSONDict:
        """Poll a job until it is done, failed or cancelled; a failed job raises ClientError."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            status = job.get("status")
            if status == "done":
                return job
            if status in ("error", "cancelled"):
                raise ClientError(500, f"job {job_id} {status}: {job.get('error') or 'no details'}")
            if time.monotonic() > deadline:
                raise ClientError(0, f"job {job_id} still '{status}' after {timeout:.0f}s")
            time.sleep(interval)
            interval = min(interval * 1.5, 2.0)

    # --- pipes ----------------------------------------------------------------------------------
    def pipes(self) -> list[JSONDict]:
        return list(self._json("GET", "/v0/pipes").get("pipes", []))

    def pipe(self, name: str) -> JSONDict:
        return self._json("GET", f"/v0/pipes/{_q(name)}")

    def pipe_or_none(self, name: str) -> JSONDict | None:
        return self._or_none(lambda: self.pipe(name))

    def create_pipe(self, body: Mapping[str, Any], *, force: bool = False) -> JSONDict:
        params = {"force": "true"} if force else {}
        return self._json("POST", "/v0/pipes", params=params, json=dict(body))

    def delete_pipe(self, name: str) -> None:
        self.request("DELETE", f"/v0/pipes/{_q(name)}")

    def publish_endpoint(self, pipe: str, node: str) -> JSONDict:
        return self._json("POST", f"/v0/pipes/{_q(pipe)}/nodes/{_q(node)}/endpoint")

    def pipe_data(self, name: str, params: Sequence[tuple[str, str]] = (), fmt: str = "json") -> httpx.Response:
        """Call an endpoint; returns the raw response (JSON, CSV or NDJSON body)."""
        path = f"/v0/pipes/{_q(name)}.{fmt}"
        query: list[tuple[str, str | int | float | bool | None]] = list(params)
        if len(str(httpx.QueryParams(query))) > LONG_URL:
            return self.request("POST", path, data=_multi(params))
        return self.request("GET", path, params=query)

    # --- tokens ---------------------------------------------------------------------------------
    def tokens(self) -> list[JSONDict]:
        return list(self._json("GET", "/v0/tokens").get("tokens", []))

    def token(self, name: str) -> JSONDict:
        return self._json("GET", f"/v0/tokens/{_q(name)}")

    def token_or_none(self, name: str) -> JSONDict | None:
        return self._or_none(lambda: self.token(name))

    def create_token(self, name: str, scopes: Sequence[str], description: str | None = None) -> JSONDict:
        data: list[tuple[str, str]] = [("name", name)]
        if description is not None:
            data.append(("description", description))
        data += [("scope", s) for s in scopes]
        return self._json("POST", "/v0/tokens", data=_multi(data))

    def update_token(self, name: str, scopes: Sequence[str], description: str | None = None,
                     new_name: str | None = None) -> JSONDict:
        """PUT: the scopes given replace the token's scopes; the value stays."""
        data: list[tuple[str, str]] = []
        if new_name is not None:
            data.append(("name", new_name))
        if description is not None:
            data.append(("description", description))
        data += [("scope", s) for s in scopes]
        return self._json("PUT", f"/v0/tokens/{_q(name)}", data=_multi(data))

    def delete_token(self, name: str) -> None:
        self.request("DELETE", f"/v0/tokens/{_q(name)}")

    def refresh_token(self, name: str) -> JSONDict:
        return self._json("POST", f"/v0/tokens/{_q(name)}/refresh")

    def create_jwt(self, name: str, expiration_time: int, scopes: Sequence[Mapping[str, Any]],
                   rps: int | None = None) -> JSONDict:
        body: JSONDict = {"name": name, "scopes": [dict(s) for s in scopes]}
        if rps is not None:
            body["limits"] = {"rps": rps}
        return self._json("POST", "/v0/tokens", params={"name": name, "expiration_time": str(expiration_time)},
                          json=body)

    # --- query ----------------------------------------------------------------------------------
    def sql(self, query: str) -> httpx.Response:
        """Run SQL (with its FORMAT clause) through ``/v0/sql``; returns the raw response."""
        if len(query) > LONG_URL:
            return self.request("POST", "/v0/sql", data={"q": query})
        return self.request("GET", "/v0/sql", params={"q": query})


def _multi(items: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Repeated keys as httpx form data."""
    out: dict[str, list[str]] = {}
    for k, v in items:
        out.setdefault(k, []).append(v)
    return out
