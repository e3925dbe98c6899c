"""The project documents itself: every ``*.md`` the code cites exists, every ``§section``
cited names a heading of that file, every Markdown link of README.md and docs/ resolves,
and docs/ covers what the code registers (patterns, recipes, result columns)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import patterns
import results
from patterns.training import available_recipes

THIS_FILE = Path(__file__).resolve()  # names the docs as data, not as citations
ROOT = THIS_FILE.parents[1]
DOCS = ROOT / "docs"
SOURCE_SUFFIXES = {".py", ".c", ".h", ".cu", ".cuh", ".toml", ".ini", ".cfg", ".html", ".j2",
                   ".js", ".css", ".txt", ".sh"}
SKIP_DIRS = {"docs", "build", "dist", "sparsebench-out", "node_modules", "__pycache__"}
MD_PATH = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
SECTION = re.compile(r"((?:[\w.-]+/)*[\w.-]+\.md)\s*§\s*([\w-]+)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
CODE_PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.(?:py|c|h|cu|cuh|toml))(?::\s*(\w+))?`")
DOC_FILES = ("PATTERNS.md", "RECIPES.md", "CONTRACTS.md", "RESULTS.md", "MEASURING.md")


def source_files() -> list[Path]:
    """The project's own source files (no docs, no hidden folders, no build output)."""
    found = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(p.startswith(".") or p in SKIP_DIRS or p.endswith(".egg-info") for p in parts):
            continue
        if path.is_file() and path.suffix in SOURCE_SUFFIXES and path != THIS_FILE:
            found.append(path)
    return found


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(path.read_text(encoding="utf-8"))}


def citations() -> list[tuple[Path, int, str, str | None]]:
    """(file, line, cited .md path, cited section or None) for every citation in the code."""
    cited = []
    for path in source_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            sections = {m.group(1): m.group(2) for m in SECTION.finditer(line)}
            for match in MD_PATH.finditer(line):
                cited.append((path, number, match.group(1), sections.get(match.group(1))))
    return cited


def test_the_code_cites_the_docs():
    cited = {c[2] for c in citations()}
    assert {"docs/PATTERNS.md", "docs/CONTRACTS.md"} <= cited


def test_every_cited_md_file_exists():
    missing = [f"{p.relative_to(ROOT)}:{n}: {md}" for p, n, md, _ in citations()
               if not (ROOT / md).is_file()]
    assert not missing, "cited files that do not exist (cite them from the repo root):\n" + \
        "\n".join(missing)


def test_every_cited_section_is_a_heading():
    wrong = [f"{p.relative_to(ROOT)}:{n}: {md} §{section}"
             for p, n, md, section in citations()
             if section and (ROOT / md).is_file() and section not in anchors(ROOT / md)]
    assert not wrong, "cited sections with no such heading:\n" + "\n".join(wrong)


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.name)
def test_markdown_links_resolve(page: Path):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: p.name)
def test_code_paths_in_docs_exist(page: Path):
    """`dir/file.py` and `dir/file.py: name` in the docs name a project file (and a name in
    it); paths outside the project's folders (a paper's repository) are not checked."""
    stale = []
    for path, name in CODE_PATH.findall(page.read_text(encoding="utf-8")):
        if not (ROOT / path.split("/")[0]).is_dir():
            continue
        if not (ROOT / path).is_file():
            stale.append(f"{path}: no such file")
        elif name and name not in (ROOT / path).read_text(encoding="utf-8"):
            stale.append(f"{path}: {name} not found in it")
    assert not stale, f"{page.name}: " + "; ".join(stale)


def test_readme_links_every_doc():
    links = set(LINK.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    for name in DOC_FILES:
        assert (DOCS / name).is_file(), f"docs/{name} is missing"
        assert f"docs/{name}" in links, f"README.md does not link docs/{name}"


def test_every_pattern_and_recipe_has_a_section():
    pattern_headings = anchors(DOCS / "PATTERNS.md")
    recipe_headings = anchors(DOCS / "RECIPES.md")
    assert [p for p in patterns.available() if p not in pattern_headings] == []
    assert [r for r in available_recipes() if r not in recipe_headings] == []


def test_every_result_column_is_documented(tmp_path):
    """A migration that adds a column must say what it means in docs/RESULTS.md."""
    text = (DOCS / "RESULTS.md").read_text(encoding="utf-8")
    store = results.Store(tmp_path / "fresh.duckdb")
    undocumented = [
        f"{table}.{column}"
        for table in results.schema.DATA_TABLES
        for column in store.columns(table)
        if f"`{column}`" not in text
    ]
    assert f"### {results.schema.DATA_TABLES[0]}" in text
    assert not undocumented, "columns missing from docs/RESULTS.md: " + ", ".join(undocumented)
