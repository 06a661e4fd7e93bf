"""The README is the front door to `docs/`: every page is linked from it, and every link between
the pages (a file, and a heading in it) resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def prose(path: Path) -> str:
    """A page without its code blocks and inline code: what Markdown renders as text."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return re.sub(r"`[^`\n]*`", "x", text)


def anchors(path: Path) -> set[str]:
    """The ids GitHub gives the page's headings: lower case, punctuation gone, spaces as `-`; a
    repeated one gets `-1`, `-2` ..."""
    seen: dict[str, int] = {}
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        if re.match(r"#{1,6} ", line):
            slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            seen[slug] = seen.get(slug, -1) + 1
            if seen[slug]:
                seen[f"{slug}-{seen[slug]}"] = 0
    return set(seen)


def links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path)) if not re.match(r"[a-z]+:", target)]


def test_there_are_docs() -> None:
    assert len(PAGES) >= 8


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda path: path.name)
def test_every_docs_page_is_linked_from_the_readme(page: Path) -> None:
    assert f"docs/{page.name}" in {target.split("#")[0] for target in links(ROOT / "README.md")}


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda path: path.name)
def test_every_docs_page_has_a_title_and_a_way_back(page: Path) -> None:
    assert page.read_text(encoding="utf-8").startswith("# ")
    assert "../README.md" in links(page)


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_every_link_resolves(page: Path) -> None:
    assert links(page) or page.name != "README.md"
    for target in links(page):
        file, _, anchor = target.partition("#")
        goal = (page.parent / file).resolve() if file else page
        assert goal.exists(), f"{page.name}: {target}: no such file"
        if anchor:
            assert anchor in anchors(goal), f"{page.name}: {target}: no such heading in {goal.name}"


def test_the_anchor_rules_are_githubs() -> None:
    page = ROOT / "docs" / "commands.md"
    assert {"kpstask-get-task_id-task_id-", "ctrl-c", "kpstask-running-and-kpstask-failed"} <= anchors(page)
