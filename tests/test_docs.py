"""The README and docs/ stand on their own: every link points at a file (and heading) in the
repository, and nothing links outside it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "deploy" / "k8s" / "README.md"]
)
LINK = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>]+)>")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.*)$", CODE.sub("", path.read_text()), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def links(path: Path) -> list[str]:
    text = CODE.sub("", path.read_text())  # examples in code are not links
    return [a or b for a, b in LINK.findall(text)]


def test_there_are_docs_to_check() -> None:
    assert {"README.md", "api.md", "system.md", "operations.md", "architecture.md"} <= {
        p.name for p in DOCS
    }


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_stays_in_the_repository_and_resolves(doc: Path) -> None:
    broken = []
    for link in links(doc):
        if re.match(r"[a-z]+:", link):
            if not re.match(r"https?://(localhost|127\.0\.0\.1)[:/]", link):
                broken.append(f"{link}: outside the repository")
            continue
        target, _, anchor = link.partition("#")
        path = (doc.parent / target).resolve() if target else doc
        if not path.exists() or (ROOT not in path.parents and path != ROOT):
            broken.append(f"{link}: no such file in the repository")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{link}: no such heading")
    assert broken == []
