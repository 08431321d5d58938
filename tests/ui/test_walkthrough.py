"""The walk-through of issue 7, in a real browser.

Sign in as admin, create a token with a row filter through the scope builder (seeing the server's
validation first), sign in as that token in another browser session, the data preview shows only its
rows, delete the token as admin, and the filtered token's session then reports itself invalid.
"""

from __future__ import annotations

import re
from typing import Any

from tests.ui.conftest import PER_USER, World, column_values, nav, shot, sign_in


def test_walkthrough(world: World, open_tab: Any) -> None:
    admin = open_tab()
    page = admin.page
    sign_in(page, world.admin_token)
    nav(page, "Tokens")

    # create a token with a row filter through the scope builder
    page.get_by_role("button", name="New token").click()
    dialog = page.get_by_role("dialog", name="New token")
    dialog.get_by_label("Name").fill("acme_user_4")
    dialog.get_by_label("Type").select_option("DATASOURCES:READ")
    dialog.get_by_label("Resource").select_option("events")
    dialog.get_by_label("Row filter (SQL)").fill("user_idd = 4")

    # the server's validation, before saving: a bad filter is refused with the reason, inline
    dialog.get_by_role("button", name="Check filter").click()
    bad = dialog.locator(".check-result .alert-error")
    bad.wait_for()
    assert "refused" in bad.inner_text()
    dialog.get_by_role("button", name="Create token").click()
    refused = dialog.locator(".dialog-error .alert-error")
    refused.wait_for()
    assert "The server refused" in refused.inner_text()
    shot(page, "tokens-create-refused")

    dialog.get_by_label("Row filter (SQL)").fill("user_id = 4")
    dialog.get_by_role("button", name="Check filter").click()
    ok = dialog.locator(".check-result .alert-success")
    ok.wait_for()
    assert re.search(rf"Valid filter: {PER_USER} of \d+ rows of events match", ok.inner_text())
    shot(page, "tokens-create-builder")
    dialog.get_by_role("button", name="Create token").click()

    created = page.get_by_role("dialog", name="Token acme_user_4 created")
    value = created.get_by_label("Token value").input_value()
    assert value.startswith("p.")
    created.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == value
    shot(page, "tokens-created")
    created.get_by_role("button", name="Done").click()
    row = page.locator("tr[data-token='acme_user_4']")
    row.wait_for()
    assert "user_id = 4" in row.inner_text()

    # sign in as that token in another browser session: the preview shows only its rows
    user = open_tab()
    upage = user.page
    sign_in(upage, value)
    nav_links = upage.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()
    assert "Tokens" not in nav_links  # the UI follows the token's scopes
    nav(upage, "Data sources")
    upage.get_by_role("link", name="events").click()
    upage.locator("table.data-table").wait_for()
    ids = column_values(upage, "user_id")
    assert len(ids) == PER_USER
    assert set(ids) == {"4"}
    assert "acme_user_4" in upage.locator(".tab-panel:not([hidden])").inner_text()
    shot(upage, "walkthrough-filtered-preview")

    # delete it as the admin, with the confirmation
    row.get_by_role("button", name="Delete: acme_user_4").click()
    confirm = page.get_by_role("dialog", name="Delete token acme_user_4?")
    shot(page, "tokens-delete-confirm", full_page=False)
    confirm.get_by_role("button", name="Delete token").click()
    row.wait_for(state="detached")

    # the filtered token's next action: its session is reported invalid
    upage.get_by_role("button", name="Reload").click()
    msg = upage.locator(".signin .alert")
    msg.wait_for()
    assert re.search(r"session is no longer valid", msg.inner_text())
    assert upage.evaluate("sessionStorage.length") == 0
    shot(upage, "walkthrough-session-invalid")

    # no token value ever appeared in a URL
    for tab in (admin, user):
        for url in tab.request_urls:
            assert value not in url and world.admin_token not in url, url
