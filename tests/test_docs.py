"""Docs stay in step with the code: every route is documented in docs/api.md."""

from __future__ import annotations

import re
from pathlib import Path

from roost.api import load_routes
from roost.api.routing import ROUTES

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _norm(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_route_is_documented() -> None:
    load_routes()
    text = (DOCS / "api.md").read_text()
    documented = {_norm(p) for p in re.findall(r"(/v[01]/(?:[A-Za-z0-9_.,/-]|\{[^}]*\})*|/healthz)", text)}
    documented |= {_norm(p.split(".{")[0] + ".{}") for p in documented if ".{" in p}
    missing = []
    for spec in ROUTES:
        if spec.path == "/" or spec.path.startswith("/ui"):
            continue
        if _norm(spec.path) not in documented:
            missing.append(spec.path)
    assert not missing, f"routes missing from docs/api.md: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    lines = [x for x in (DOCS.parent / "README.md").read_text().splitlines() if x.strip()]
    assert lines[0] == "# Roost" and lines[1] == "```bash"
    assert lines[2].startswith("./dev demo") and lines[3].startswith("./dev test")
