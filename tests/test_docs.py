"""The README and docs/ stand on their own: every link and every repository path they name exists,
they cite no document that is not in the repository, and settings.md lists every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from magickbox.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
REPO_PATH = re.compile(r"`((?:src|tests|scripts|bench|docs|\.ci)/[\w./-]*)`")
# Documents of the original project that are not in this repository.
ABSENT_SOURCES = re.compile(r"seed page|the reference\b|appendix A|Routing\.rst|section 9 of", re.IGNORECASE)


def anchors(page: Path) -> set[str]:
    """GitHub's anchors of the page's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_and_paths_exist(page: Path) -> None:
    text = page.read_text()
    missing = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not ours to check here
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        broken_anchor = file.exists() and anchor and file.suffix == ".md" and anchor not in anchors(file)
        if not file.exists() or broken_anchor:
            missing.append(target)
    for named in REPO_PATH.findall(text):
        if not (ROOT / named).exists():
            missing.append(named)
    assert missing == [], f"{page.name} names what does not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_document_outside_the_repository_is_cited(page: Path) -> None:
    assert ABSENT_SOURCES.findall(page.read_text()) == []


def test_settings_page_lists_every_setting() -> None:
    listed = set(re.findall(r"^\| `(\w+)` \|", (ROOT / "docs" / "settings.md").read_text(), re.M))
    assert set(Settings.model_fields) - listed == set()
