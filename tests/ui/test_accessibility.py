"""Accessible basics of the web UI: labels, keyboard use, visible focus and readable contrast (WCAG AA)."""

from __future__ import annotations

from typing import Any

from tests.ui.conftest import World, nav, sign_in

UNLABELLED = """() => {
    const named = (e) => (e.labels && e.labels.length && [...e.labels].some((l) => l.textContent.trim()))
        || (e.getAttribute('aria-label') || '').trim()
        || (e.getAttribute('aria-labelledby') || '').split(/\\s+/).some((id) => id && document.getElementById(id));
    const controls = [...document.querySelectorAll('input, select, textarea')].filter((e) => e.type !== 'hidden');
    const buttons = [...document.querySelectorAll('button, a[href]')]
        .filter((e) => !e.textContent.trim() && !(e.getAttribute('aria-label') || '').trim());
    const images = [...document.querySelectorAll('img')].filter((e) => !e.hasAttribute('alt'));
    const svgs = [...document.querySelectorAll('svg.chart')].filter((e) => !e.getAttribute('aria-label'));
    return [...controls.filter((e) => !named(e)), ...buttons, ...images, ...svgs].map((e) => e.outerHTML.slice(0, 160));
}"""

# WCAG relative luminance and contrast of an element's text over its effective background.
CONTRAST = """(selector) => {
    const parse = (c) => {
        const m = c.match(/rgba?\\(([^)]+)\\)/);
        if (!m) return null;
        const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
        return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
    };
    const over = (top, bottom) => ({
        r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a),
        b: top.b * top.a + bottom.b * (1 - top.a), a: 1,
    });
    const background = (el) => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const bg = parse(getComputedStyle(e).backgroundColor);
            if (bg && bg.a > 0) {
                layers.push(bg);
                if (bg.a >= 1) break;
            }
        }
        let out = {r: 255, g: 255, b: 255, a: 1};
        for (const l of layers.reverse()) out = over(l, out);
        return out;
    };
    const lum = (c) => {
        const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
        return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
    };
    const els = [...document.querySelectorAll(selector)].filter((e) => e.offsetParent !== null || e.tagName === 'BODY');
    return els.slice(0, 5).map((el) => {
        const bg = background(el);
        const fg = over(parse(getComputedStyle(el).color), bg);
        const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
        return [(a + 0.05) / (b + 0.05), el.textContent.trim().slice(0, 40)];
    });
}"""


def unlabelled(page: Any) -> list[str]:
    out: list[str] = page.evaluate(UNLABELLED)
    return out


def contrast(page: Any, selector: str) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = [(float(r), str(t)) for r, t in page.evaluate(CONTRAST, selector)]
    return out


def test_every_control_has_a_label(world: World, tab: Any) -> None:
    page = tab.page
    page.goto("/ui/")
    page.get_by_label("Token").wait_for()
    assert unlabelled(page) == []
    sign_in(page, world.admin_token)
    checks = {
        "/ui/": ".stat-value",
        "/ui/datasources": "table",
        "/ui/datasources/events": "table.data-table",
        "/ui/datasources/events/schema": "table",
        "/ui/datasources/events/append": ".dropzone",
        "/ui/pipes": "table",
        "/ui/pipes/ecommerce_example": ".run-form",
        "/ui/sql": ".table-names",
        "/ui/tokens": "tr[data-token]",
        "/ui/privacy": "svg.chart",
    }
    for path, ready in checks.items():
        page.goto(path)
        page.locator(ready).first.wait_for()
        assert unlabelled(page) == [], path
    # dialogs too
    page.goto("/ui/tokens")
    page.locator("tr[data-token]").first.wait_for()
    page.get_by_role("button", name="New token").click()
    page.get_by_role("dialog").get_by_role("button", name="Add scope").click()
    assert unlabelled(page) == []
    page.keyboard.press("Escape")
    page.get_by_role("button", name="JWT builder").click()
    page.get_by_role("dialog").get_by_role("button", name="Add parameter").click()
    assert unlabelled(page) == []


def test_keyboard_only(world: World, tab: Any) -> None:
    page = tab.page
    page.goto("/ui/")
    # the token field has the focus; Enter submits
    assert page.evaluate("document.activeElement.labels[0].textContent") == "Token"
    page.keyboard.type(world.admin_token)
    page.keyboard.press("Enter")
    page.get_by_role("navigation", name="Main").wait_for()

    # Tab from the top: the skip link first, then the navigation
    page.reload()
    page.get_by_role("navigation", name="Main").wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Tokens":
            break
    else:
        raise AssertionError("the Tokens link is not reachable with Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "no visible focus"
    page.keyboard.press("Enter")
    page.get_by_role("heading", level=1, name="Tokens").wait_for()
    page.locator("tr[data-token]").first.wait_for()

    # a dialog: opened with the keyboard, focus inside, Escape closes it and gives the focus back
    page.get_by_role("button", name="New token").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New token")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    assert page.evaluate("document.activeElement.id") == "token-name"
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert page.evaluate("document.activeElement.textContent.trim()") == "New token"

    # tabs move with the arrow keys
    nav(page, "Data sources")
    page.get_by_role("link", name="events").click()
    page.get_by_role("tab", name="Preview").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.textContent") == "Schema"
    assert page.get_by_role("tab", name="Schema").get_attribute("aria-selected") == "true"

    # the SQL console runs with Ctrl+Enter
    nav(page, "SQL console")
    editor = page.get_by_role("textbox", name="Query")
    editor.fill("SELECT 40 + 2 AS answer")
    editor.press("Control+Enter")
    page.locator(".sql-output table.data-table").wait_for()
    assert "42" in page.locator(".sql-output table.data-table").inner_text()


def test_contrast_is_at_least_aa(world: World, tab: Any) -> None:
    page = tab.page
    page.goto("/ui/")
    page.get_by_label("Token").wait_for()
    failures = []
    for sel in ("body", ".signin h1", ".signin .muted", ".hint", ".btn-primary", "label"):
        for ratio, text in contrast(page, sel):
            if ratio < 4.5:
                failures.append(f"sign-in {sel} {text!r}: {ratio:.2f}")
    sign_in(page, world.admin_token)
    pages = {
        "/ui/": [".page-header h1", ".page-header .muted", ".stat-label", ".stat-sub", ".nav a",
                 ".nav a[aria-current]", ".who-label", ".who-scope", ".btn-sidebar", ".badge-accent", "a.link"],
        "/ui/tokens": ["thead th", ".scope-type", ".scope-res", ".scope-filter", ".token-name .desc", ".btn-primary",
                       ".btn", "time", ".muted"],
        "/ui/datasources/events": [".tab", ".tab[aria-selected='true']", ".data-table td", ".col-type", ".result-info"],
        "/ui/pipes/ecommerce_example": [".param-type", ".hint", "pre.code", ".badge-success", ".list-table td"],
    }
    for path, selectors in pages.items():
        page.goto(path)
        page.locator(".page-header h1").wait_for()
        page.wait_for_load_state("networkidle")
        for sel in selectors:
            measured = contrast(page, sel)
            assert measured, f"nothing matches {sel} on {path}"
            for ratio, text in measured:
                if ratio < 4.5:
                    failures.append(f"{path} {sel} {text!r}: {ratio:.2f}")
    assert not failures, "\n".join(failures)
