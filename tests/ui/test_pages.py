"""Every page of the web UI in a real browser, with a screenshot of each (test-artifacts/ui/)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt as pyjwt

from tests.ui.conftest import PER_USER, USERS, World, column_values, nav, shot, sign_in


def test_routes_headers_and_static_files(world: World) -> None:
    with httpx.Client(base_url=world.url, timeout=10) as c:
        r = c.get("/")
        assert r.status_code == 302 and r.headers["location"] == "/ui/"
        assert c.get("/ui").headers["location"] == "/ui/"
        for path in ("/ui/", "/ui/tokens", "/ui/datasources/events/schema"):
            r = c.get(path)
            assert r.status_code == 200
            assert r.headers["content-type"] == "text/html; charset=utf-8"
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert '<script type="module" src="/ui/js/main.js">' in r.text
            assert "<script>" not in r.text and " style=" not in r.text  # nothing inline
        assert c.get("/ui/js/main.js").headers["content-type"].startswith("text/javascript")
        assert c.get("/ui/css/app.css").headers["content-type"].startswith("text/css")
        assert c.get("/ui/favicon.svg").headers["content-type"] == "image/svg+xml"
        assert c.get("/ui/js/missing.js").status_code == 404
        for bad in ("/ui/../roost/app.py", "/ui/%2e%2e/routes.py", "/ui/..%2froutes.py", "/ui/.hidden"):
            r = c.send(c.build_request("GET", world.url + bad))
            assert r.status_code in (404, 200), bad
            assert "import" not in r.text, bad  # never a file outside static/


def test_sign_in_errors(world: World, tab: Any) -> None:
    page = tab.page
    page.goto("/")
    assert page.url.endswith("/ui/")
    shot(page, "01-sign-in", full_page=False)
    page.get_by_label("Token").fill("p.not-a-token")
    page.get_by_role("button", name="Sign in").click()
    err = page.locator(".signin .alert-error")
    err.wait_for()
    assert "not accepted" in err.inner_text()
    shot(page, "01-sign-in-refused", full_page=False)


def test_overview_and_sign_out(world: World, tab: Any) -> None:
    page = tab.page
    sign_in(page, world.admin_token)
    page.get_by_role("heading", name="Overview").wait_for()
    page.locator(".stat-value").first.wait_for()
    assert "admin token" in page.locator(".who").inner_text()
    page.locator(".simple-list").first.wait_for()
    shot(page, "02-overview")
    assert page.evaluate("sessionStorage.getItem('roost.session')") is not None
    assert page.evaluate("localStorage.length") == 0 and page.evaluate("document.cookie") == ""
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Token").wait_for()
    assert page.evaluate("sessionStorage.length") == 0


def test_datasources(world: World, tab: Any, tmp_path: Any) -> None:
    page = tab.page
    sign_in(page, world.admin_token)
    nav(page, "Data sources")
    row = page.locator("tr[data-datasource='events']")
    assert "100" in row.inner_text()
    shot(page, "03-datasources")
    row.get_by_role("link", name="events").click()
    page.locator("table.data-table").wait_for()
    assert len(column_values(page, "user_id")) == 50  # the admin reads every row; LIMIT 50
    shot(page, "04-datasource-preview")

    page.get_by_role("tab", name="Schema").click()
    schema = page.locator(".tab-panel:not([hidden])")
    schema.get_by_text("json:$.user_id").or_(schema.get_by_text("$.user_id")).first.wait_for()
    assert page.url.endswith("/ui/datasources/events/schema")  # tab in the URL, never a token
    shot(page, "05-datasource-schema")

    # append by drag and drop: one bad row goes to the quarantine
    page.get_by_role("tab", name="Append data").click()
    rows = [{"timestamp": "2026-02-01 00:00:00", "user_id": 9, "event_type": "view", "price": 1.5},
            {"timestamp": "2026-02-01 00:00:00", "user_id": "not a number", "event_type": "view", "price": 1}]
    body = "\n".join(json.dumps(r) for r in rows) + "\n"
    page.evaluate(
        """(body) => {
            const dt = new DataTransfer();
            dt.items.add(new File([body], 'more.ndjson', {type: 'application/x-ndjson'}));
            const zone = document.querySelector('.dropzone');
            zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        }""",
        body,
    )
    result = page.locator(".append-result .alert")
    result.wait_for()
    text = result.inner_text()
    assert "1 row appended" in text and "1 row quarantined" in text, text
    assert page.locator("progress").evaluate("p => p.value") == 100
    page.get_by_role("tab", name="Quarantine (1)").wait_for()  # the counts are refreshed after an append
    shot(page, "06-datasource-append")

    # the same through the file picker (keyboard users): a CSV
    csv = tmp_path / "more.csv"
    csv.write_text("2026-02-02 00:00:00,9,cart,2.5\n")
    page.locator("input[type=file]").set_input_files(str(csv))
    page.get_by_text("1 row appended (import").last.wait_for()

    page.get_by_role("tab", name="Quarantine").click()
    q = page.locator(".tab-panel:not([hidden]) table.data-table")
    q.wait_for()
    assert "not a number" in q.inner_text()
    assert column_values(page, "c__error")[0]
    shot(page, "07-datasource-quarantine")

    page.get_by_role("tab", name="Operations log").click()
    ops = page.locator(".tab-panel:not([hidden]) table.data-table")
    deadline = time.monotonic() + 10  # the ops log is written in the background within about a second
    while True:
        try:
            ops.wait_for(timeout=1000)
            if "append" in ops.inner_text():
                break
        except Exception:
            pass
        assert time.monotonic() < deadline, "no append in the operations log"
        page.locator(".tab-panel:not([hidden])").get_by_role("button", name="Reload").click()
    shot(page, "08-datasource-ops-log")


def test_pipes_run_form_curl_and_requests(world: World, tab: Any) -> None:
    page = tab.page
    sign_in(page, world.admin_token)
    nav(page, "Pipes")
    shot(page, "09-pipes")
    page.get_by_role("link", name="ecommerce_example").click()
    page.get_by_role("heading", name="Run").wait_for()
    # the form is built from the template parameters
    for name in ("start", "end", "event_type", "limit"):
        assert page.locator(f".run-form [name='{name}']").count() == 1
    assert page.locator(".run-form [name='start']").get_attribute("type") == "date"
    assert page.locator(".run-form [name='limit']").get_attribute("type") == "number"
    page.locator(".run-form [name='limit']").fill("5")
    page.locator(".run-form [name='event_type']").fill("purchase")
    page.get_by_role("button", name="Run endpoint").click()
    page.locator(".run-output table.data-table").wait_for()
    assert column_values(page, "event_type", ".run-output") == ["purchase"] * 5
    curl = page.locator(".code-field", has_text="curl with your token")
    assert world.admin_token not in curl.locator("pre").inner_text()  # masked on screen
    curl.get_by_role("button", name="Copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("curl -s '") and f"Bearer {world.admin_token}" in copied
    assert "limit=5" in copied and "event_type=purchase" in copied
    assert world.admin_token not in page.url
    # recent requests and the latency chart, from tinybird.pipe_stats_rt
    requests = page.locator(".card", has_text="Requests")
    deadline = time.monotonic() + 10

    def logged() -> bool:
        tables = requests.locator("table")
        return tables.count() > 0 and "admin token" in tables.first.inner_text()

    while not logged():
        assert time.monotonic() < deadline, "no request of the admin in pipe_stats_rt"
        page.wait_for_timeout(500)
        requests.get_by_role("button", name="Reload").click()
        page.wait_for_timeout(300)
    assert requests.locator("svg.chart rect.bar").count() >= 1
    shot(page, "10-pipe")


def test_sql_console_results_and_error_position(world: World, tab: Any) -> None:
    page = tab.page
    sign_in(page, world.admin_token)
    nav(page, "SQL console")
    editor = page.get_by_role("textbox", name="Query")
    editor.fill("SELECT user_id, count() AS n\nFROM events\nGROUP BY user_id\nORDER BY user_id")
    editor.press("Control+Enter")
    page.locator(".sql-output table.data-table").wait_for()
    assert column_values(page, "user_id")[:USERS] == [str(u) for u in range(1, USERS + 1)]
    shot(page, "11-sql-console")

    editor.fill("SELECT *\nFROM events\nWHERE user_id = = 3")
    page.get_by_role("button", name="Run").click()
    err = page.locator(".sql-output .alert-error")
    err.wait_for()
    assert "Line 3, column" in err.inner_text()
    assert page.locator(".gutter .err").inner_text() == "3"
    pointer = page.locator("pre.pointer").inner_text()
    assert "WHERE user_id = = 3" in pointer and "^" in pointer
    sel = editor.evaluate("e => [e.selectionStart, e.value.split('\\n').slice(0, 2).join('\\n').length]")
    assert sel[0] > sel[1]  # the cursor is on line 3
    shot(page, "12-sql-console-error")


def test_tokens_page_edit_refresh_audit_and_jwt(world: World, tab: Any) -> None:
    with world.server.admin() as admin:
        r = admin.post("/v0/tokens", params={"name": "edit_me", "scope": "DATASOURCES:READ:events:user_id = 1"})
        assert r.status_code == 200
        old_value = r.json()["token"]
    page = tab.page
    sign_in(page, world.admin_token)
    nav(page, "Tokens")
    row = page.locator("tr[data-token='edit_me']")
    row.wait_for()
    for name in ("user_1", "user_2", "user_3", "admin token"):
        assert page.locator(f"tr[data-token='{name}']").count() == 1
    assert "never" in row.inner_text()  # last use
    shot(page, "13-tokens")

    # edit: change the filter and add a scope
    row.get_by_role("button", name="Edit: edit_me").click()
    dialog = page.get_by_role("dialog", name="Edit token edit_me")
    assert dialog.get_by_label("Row filter (SQL)").input_value() == "user_id = 1"
    dialog.get_by_label("Row filter (SQL)").fill("user_id = 2")
    dialog.get_by_role("button", name="Add scope").click()
    dialog.get_by_label("Type").nth(1).select_option("PIPES:READ")
    dialog.get_by_label("Resource").nth(1).select_option("ecommerce_example")
    shot(page, "14-tokens-edit", full_page=False)
    dialog.get_by_role("button", name="Save changes").click()
    dialog.wait_for(state="detached")
    page.locator("tr[data-token='edit_me']", has_text="user_id = 2").wait_for()
    with world.server.admin() as admin:
        scopes = admin.get("/v0/tokens/edit_me").json()["scopes"]
    assert {"type": "DATASOURCES:READ", "resource": "events", "filter": "user_id = 2"} in scopes
    assert any(s["type"] == "PIPES:READ" and s["resource"] == "ecommerce_example" for s in scopes)

    # refresh: a new value, the old one refused
    page.locator("tr[data-token='edit_me']").get_by_role("button", name="Refresh value: edit_me").click()
    page.get_by_role("dialog", name="Refresh token edit_me?").get_by_role("button", name="Refresh value").click()
    new_value = page.get_by_role("dialog", name="New value of edit_me").get_by_label("Token value").input_value()
    assert new_value and new_value != old_value
    assert httpx.get(world.url + "/v0/workspace", headers={"Authorization": f"Bearer {old_value}"}).status_code == 403
    page.keyboard.press("Escape")

    # the audit trail
    page.locator("tr[data-token='edit_me']").get_by_role("button", name="Audit trail: edit_me").click()
    audit = page.get_by_role("dialog", name="Audit trail of edit_me")
    audit.locator("table").wait_for()
    text = audit.inner_text()
    assert "create" in text and "update" in text and "refresh" in text
    shot(page, "15-tokens-audit", full_page=False)
    page.keyboard.press("Escape")
    audit.wait_for(state="detached")



def build_jwt(page: Any, name: str, pipe: str, params: dict[str, str], rps: str) -> str:
    page.get_by_role("button", name="JWT builder").click()
    jwt = page.get_by_role("dialog", name="JWT builder")
    jwt.get_by_label("Name").fill(name)
    jwt.get_by_label("Endpoint pipe").select_option(pipe)
    for i, (k, v) in enumerate(params.items()):
        jwt.get_by_role("button", name="Add parameter").click()
        jwt.get_by_label("Parameter", exact=True).nth(i).fill(k)
        jwt.get_by_label("Fixed value").nth(i).fill(v)
    jwt.get_by_label("Rate limit (requests/s)").fill(rps)
    jwt.get_by_role("button", name="Create JWT").click()
    value: str = jwt.get_by_label("JWT", exact=True).input_value()
    return value


def test_jwt_builder(world: World, tab: Any) -> None:
    """The JWT builder mints a JWT with the pipe, the fixed parameters, the expiry and the rps limit."""
    page = tab.page
    sign_in(page, world.admin_token)
    nav(page, "Tokens")
    value = build_jwt(page, "dashboard_user_2", "ecommerce_example", {"event_type": "cart"}, "5")
    assert value.count(".") == 2
    claims = pyjwt.decode(value, world.admin_token, algorithms=["HS256"])
    assert claims["name"] == "dashboard_user_2"
    assert claims["scopes"] == [{"type": "PIPES:READ", "resource": "ecommerce_example",
                                 "fixed_params": {"event_type": "cart"}}]
    assert claims["limits"] == {"rps": 5}
    assert 3000 < claims["exp"] - time.time() <= 3660  # the default expiry: in an hour
    shot(page, "16-tokens-jwt", full_page=False)


def test_jwt_from_the_builder_calls_its_endpoint(world: World, tab: Any) -> None:
    """A JWT with only PIPES:READ (and fixed params) calls the endpoint; the fixed parameter wins."""
    page = tab.page
    sign_in(page, world.admin_token)
    nav(page, "Tokens")
    value = build_jwt(page, "dashboard_cart", "ecommerce_example", {"event_type": "cart"}, "5")
    r = httpx.get(world.url + "/v0/pipes/ecommerce_example.json", params={"event_type": "view"},
                  headers={"Authorization": f"Bearer {value}"})
    assert r.status_code == 200, r.text
    assert {row["event_type"] for row in r.json()["data"]} == {"cart"}


def test_privacy_demo_side_by_side(world: World, tab: Any) -> None:
    page = tab.page
    sign_in(page, world.admin_token)
    nav(page, "Privacy demo")
    a = page.locator(".compare-panel.side-a")
    b = page.locator(".compare-panel.side-b")
    a.locator("svg.chart").wait_for()
    b.locator("svg.chart").wait_for()
    assert "user_1" in a.locator("h2").inner_text() and "user_2" in b.locator("h2").inner_text()
    assert a.locator(".stat-value.mono").inner_text() == "1"
    assert b.locator(".stat-value.mono").inner_text() == "2"
    shot(page, "17-privacy-demo")
    page.get_by_label("Metric").select_option("revenue")
    page.get_by_label("Token of side B").select_option("user_3")
    b.locator("h2", has_text="user_3").wait_for()
    b.locator("svg.chart").wait_for()
    assert b.locator(".stat-value.mono").inner_text() == "3"
    total_a = a.locator(".stat-value").first.inner_text()
    total_b = b.locator(".stat-value").first.inner_text()
    assert total_a != total_b  # different users, different rows
    shot(page, "18-privacy-demo-revenue")


def test_read_token_sees_only_what_its_scopes_allow(world: World, tab: Any) -> None:
    page = tab.page
    sign_in(page, world.user_tokens["user_2"])
    links = page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()
    assert "Tokens" not in links
    page.goto("/ui/tokens")
    page.get_by_role("heading", name="Not allowed").wait_for()
    nav(page, "Data sources")
    page.get_by_role("link", name="events").click()
    page.locator("table.data-table").wait_for()
    assert set(column_values(page, "user_id")) == {"2"}
    assert len(column_values(page, "user_id")) == PER_USER
    assert page.get_by_role("tab", name="Operations log").count() == 0  # admin only
    page.get_by_role("tab", name="Quarantine").click()
    page.locator(".tab-panel:not([hidden]) .alert-warning").wait_for()  # a filtered token cannot read it
    shot(page, "19-read-token-preview")
    # the privacy page with its own token on side A
    nav(page, "Privacy demo")
    a = page.locator(".compare-panel.side-a")
    a.locator("svg.chart").wait_for()
    assert a.locator(".stat-value.mono").inner_text() == "2"
    b = page.locator(".compare-panel.side-b")
    b.get_by_label("Token for side B").fill(world.user_tokens["user_3"])
    b.get_by_label("Token for side B").press("Enter")
    b.locator("svg.chart").wait_for()
    assert b.locator(".stat-value.mono").inner_text() == "3"
    shot(page, "20-privacy-demo-pasted-token")
