"""Smoke test on the real demo (``roost serve --demo``: 1,000,000 rows, ecommerce_example, user_1..user_3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.server import RoostServer
from tests.ui.conftest import nav, shot, sign_in


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoostServer]:
    srv = RoostServer(tmp_path_factory.mktemp("ui-demo") / "data", args=["--demo"]).start(timeout=120)
    try:
        yield srv
    finally:
        srv.stop()


def test_demo_as_a_new_user_sees_it(demo: RoostServer, open_tab: Any) -> None:
    page = open_tab(demo.url).page
    page.goto("/")
    sign_in(page, demo.admin_token)
    page.locator(".stat-value").first.wait_for()
    assert "1,000,000 rows" in page.locator(".stat-grid").inner_text()
    shot(page, "demo-01-overview")

    nav(page, "Privacy demo")
    a = page.locator(".compare-panel.side-a")
    b = page.locator(".compare-panel.side-b")
    a.locator("svg.chart").wait_for()
    b.locator("svg.chart").wait_for()
    assert a.locator(".stat-value.mono").inner_text() == "1"
    assert b.locator(".stat-value.mono").inner_text() == "2"
    bars_a = a.locator("svg.chart rect.bar").count()
    assert bars_a >= 80  # about 90 days of events per user
    shot(page, "demo-02-privacy")

    nav(page, "Pipes")
    page.get_by_role("link", name="ecommerce_example").click()
    page.get_by_role("button", name="Run endpoint").click()
    page.locator(".run-output table.data-table").wait_for()
    shot(page, "demo-03-pipe")
