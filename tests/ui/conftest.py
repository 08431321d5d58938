"""Fixtures of the web UI tests: a real Roost server with a small demo-like world, and headless Chromium.

Chromium is Debian's package (``/usr/bin/chromium``, installed by ``./dev test``), driven by Playwright for
Python; no browser is ever downloaded. Screenshots go to ``test-artifacts/ui/`` at the repository root.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from roost.demo import ENDPOINT_SQL
from tests.support.data import create_events, create_pipe
from tests.support.server import RoostServer

try:
    from playwright import sync_api as playwright_sync
except ImportError:  # pragma: no cover - the dev extra installs it
    playwright_sync = None

CHROMIUM = os.environ.get("ROOST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
VIEWPORT = {"width": 1360, "height": 860}
USERS = 5
PER_USER = 20


@dataclass
class World:
    """The server and what the tests created in it."""

    server: RoostServer
    admin_token: str
    user_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url


def seed(server: RoostServer) -> dict[str, str]:
    """An ``events`` data source, the ``ecommerce_example`` endpoint and tokens user_1..user_3 (like the demo)."""
    tokens: dict[str, str] = {}
    with server.admin() as admin:
        create_events(admin, "events", users=USERS, per_user=PER_USER)
        create_pipe(admin, "ecommerce_example", ENDPOINT_SQL)
        for uid in (1, 2, 3):
            name = f"user_{uid}"
            r = admin.post("/v0/tokens", params={"name": name, "description": f"Demo user {uid}",
                                                 "scope": ["PIPES:READ:ecommerce_example",
                                                           f"DATASOURCES:READ:events:user_id={uid}"]})
            assert r.status_code == 200, r.text
            tokens[name] = r.json()["token"]
    return tokens


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    srv = RoostServer(tmp_path_factory.mktemp("ui") / "data").start()
    try:
        yield World(srv, srv.admin_token, seed(srv))
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if playwright_sync is None:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (./dev test installs Debian's chromium package)")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Tab:
    """One browser context (its own sessionStorage) and page, with what the page logged."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.request_urls: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("console", self._console)
        self.page.on("request", lambda r: self.request_urls.append(r.url))

    def _console(self, msg: Any) -> None:
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            self.errors.append(f"console: {msg.text}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def open_tab(browser: Any, world: World) -> Iterator[Any]:
    """open_tab() -> Tab; every tab is checked for uncaught errors and CSP violations at the end."""
    tabs: list[Tab] = []

    def make(base_url: str | None = None) -> Tab:
        t = Tab(browser, base_url or world.url)
        tabs.append(t)
        return t

    yield make
    errors = [e for t in tabs for e in t.errors]
    for t in tabs:
        t.close()
    assert not errors, "errors in the browser:\n" + "\n".join(errors)


@pytest.fixture()
def tab(open_tab: Any) -> Tab:
    t: Tab = open_tab()
    return t


def sign_in(page: Any, token: str) -> None:
    page.goto("/ui/")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").wait_for()


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def nav(page: Any, label: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()
    page.get_by_role("heading", level=1, name=label).wait_for()


def column_values(page: Any, column: str, scope: str = "") -> list[str]:
    """Texts of one column of the result table (``.data-table``) inside ``scope``."""
    values: list[str] = page.evaluate(
        """([scope, column]) => {
            const root = scope ? document.querySelector(scope) : document;
            const table = [...root.querySelectorAll('table.data-table')].find((t) => t.offsetParent !== null);
            if (!table) return null;
            const heads = [...table.querySelectorAll('thead th .col-name')].map((x) => x.textContent);
            const i = heads.indexOf(column);
            if (i < 0) return null;
            return [...table.querySelectorAll('tbody tr')].map((tr) => tr.children[i].textContent);
        }""",
        [scope, column],
    )
    return values
