"""Every relative link of the README and of the documentation pages points at something that exists.

``mkdocs build --strict`` (in ``make lint``) checks the links between pages; this test also covers
the README, runs with the suite, and needs neither mkdocs nor the network: a link to a file must
name an existing file, and a ``#fragment`` must name a heading of its target page.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
CUSTOM_ID = re.compile(r"\s*\{[^}]*#([\w-]+)[^}]*\}\s*$")


def pages() -> list[Path]:
    """The README and every Markdown page of the documentation."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code blanked out."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line))
    return lines


def github_slug(title: str) -> str:
    """GitHub's anchor for a heading of the README (spaces to hyphens, not collapsed)."""
    text = title.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def mkdocs_slug(title: str) -> str:
    """Python-Markdown's default anchor (the ``toc`` extension) for a heading of a page."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    """Every anchor the headings of ``page`` define (duplicates numbered as each renderer does)."""
    readme = page == ROOT / "README.md"
    found: set[str] = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match is None:
            continue
        title = match.group(2)
        custom = CUSTOM_ID.search(title)
        if custom is not None:
            found.add(custom.group(1))
            continue
        title = re.sub(r"`([^`]*)`", r"\1", title)  # code spans keep their text
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # links keep their text
        slug = github_slug(title) if readme else mkdocs_slug(title)
        unique, n = slug, 0
        while unique in found:
            n += 1
            unique = f"{slug}-{n}" if readme else f"{slug}_{n}"
        found.add(unique)
    return found


def links(page: Path) -> list[str]:
    """The relative link targets of ``page`` (web addresses and mail links left out)."""
    targets = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                targets.append(target)
    return targets


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def broken(page: Path) -> list[str]:
    """The links of ``page`` whose file or heading does not exist, each with the reason."""
    problems = []
    for target in links(page):
        path_part, _, fragment = target.partition("#")
        if path_part.startswith("/"):
            problems.append(f"{target}: absolute path (use a relative link)")
            continue
        file = (page.parent / path_part).resolve() if path_part else page
        if not file.exists():
            problems.append(f"{target}: no file {shown(file)}")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            problems.append(f"{target}: no heading #{fragment} in {shown(file)}")
    return problems


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_existing_files_and_headings(page: Path) -> None:
    assert broken(page) == []


def test_the_checker_catches_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## A `code` heading: yes\n", encoding="utf-8")
    page.write_text(
        "# Page\n\n[ok](other.md#a-code-heading-yes) [self](#page) [web](https://example.org/x)\n"
        "[gone](missing.md) [no anchor](other.md#nope)\n\n```\n[in code](ignored.md)\n```\n"
        "`[inline](ignored.md)`\n",
        encoding="utf-8",
    )
    assert broken(page) == [
        f"missing.md: no file {tmp_path / 'missing.md'}",
        "other.md#nope: no heading #nope in " + str(tmp_path / "other.md"),
    ]


def test_slugs_match_the_renderers() -> None:
    title = "Airspace: zones, the local frame and exact safe paths (airspace/)"
    assert github_slug(title) == "airspace-zones-the-local-frame-and-exact-safe-paths-airspace"
    assert github_slug("Operators' dashboard") == "operators-dashboard"
    assert mkdocs_slug("Zones file (ZONES.geojson)") == "zones-file-zonesgeojson"
    assert mkdocs_slug("The live stream (server-sent events)") == "the-live-stream-server-sent-events"
