"""Tinybird's own clients (the classic ``tb`` CLI, verdin, tinybird-python-sdk) against a live Roost.

Nothing is installed here: ``./dev test`` installs ``requirements-tb.txt`` into ``.venv-tb`` (the CLI pins
packages of its own) and ``requirements-clients.txt`` into ``.venv`` beforehand. Without them these tests
skip, except under CI, where they fail.

Every client talks only to the Roost started here: the ``tb`` subprocesses get a dead HTTP(S) proxy for
any other host, so a version check or telemetry call that slipped through would fail the command.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import RoostServer

ROOT = Path(__file__).resolve().parents[2]
TB_BIN = ROOT / ".venv-tb" / "bin" / "tb"


def require(ok: bool, why: str) -> None:
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(why + " (./dev test installs it)")
    pytest.skip(why + " (run ./dev test, which installs it)")


@pytest.fixture(scope="package")
def roost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoostServer]:
    srv = RoostServer(tmp_path_factory.mktemp("clients") / "data").start()
    yield srv
    srv.stop()


@pytest.fixture()
def http(roost: RoostServer) -> Iterator[httpx.Client]:
    """The admin, over plain HTTP: how the tests check what the clients did."""
    with roost.admin() as c:
        yield c


@dataclass
class Result:
    args: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


class Tb:
    """The ``tb`` command in a project folder whose ``.tinyb`` points at Roost (written first)."""

    def __init__(self, url: str, token: str, cwd: Path) -> None:
        self.url = url
        self.token = token
        self.cwd = cwd
        cwd.mkdir(parents=True, exist_ok=True)
        (cwd / ".tinyb").write_text(json.dumps({"host": url, "token": token}))
        home = cwd / ".home"
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TB_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
               and k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        dead = "http://127.0.0.1:9"  # nothing listens on the discard port: any other host fails at once
        env.update({
            "TB_VERSION_WARNING": "0",
            "TB_CLI_TELEMETRY_OPTOUT": "1",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead,
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            "COLUMNS": "200",
        })
        self.env = env

    def write(self, relpath: str, text: str) -> Path:
        p = self.cwd / relpath
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def __call__(self, *args: str, ok: bool | None = True, timeout: float = 120) -> Result:
        """Run ``tb ARGS``; ``ok=True`` asserts exit 0, ``ok=False`` a non-zero exit, ``None`` checks nothing."""
        cmd = [str(TB_BIN), *args]
        p = subprocess.run(cmd, cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        r = Result(list(args), p.returncode, p.stdout, p.stderr)
        if ok is True:
            assert r.code == 0, f"tb {' '.join(args)} exited {r.code}:\n{r.out}"
        elif ok is False:
            assert r.code != 0, f"tb {' '.join(args)} should have failed:\n{r.out}"
        # no traceback; static token values are masked by tb, and never echoed by the server (errors included)
        assert "Traceback" not in r.out, r.out
        assert self.token not in r.out, r.out
        return r


@pytest.fixture()
def tb_factory(roost: RoostServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    require(TB_BIN.exists(), f"Tinybird's CLI is not installed at {TB_BIN}")
    n = 0

    def make(token: str | None = None, name: str | None = None) -> Tb:
        nonlocal n
        n += 1
        return Tb(roost.url, token or roost.admin_token, tmp_path / (name or f"project{n}"))

    return make


@pytest.fixture()
def tb(tb_factory) -> Tb:  # type: ignore[no-untyped-def]
    return tb_factory()


@pytest.fixture()
def verdin(roost: RoostServer):  # type: ignore[no-untyped-def]
    """``verdin(token)`` -> ``verdin.tinybird.Client`` on Roost (the admin token by default)."""
    require(importlib.util.find_spec("verdin") is not None, "verdin is not installed")
    from verdin import tinybird

    def make(token: str | None = None) -> Any:
        return tinybird.Client(token or roost.admin_token, api=roost.url)

    return make


@pytest.fixture()
def sdk() -> None:
    require(importlib.util.find_spec("tb") is not None, "tinybird-python-sdk is not installed")


JWT_RE = re.compile(r"The token is: (\S+)")


def jwt_from(output: str) -> str:
    m = JWT_RE.search(output)
    assert m, output
    return m.group(1)
