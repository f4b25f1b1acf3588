"""The production code as syntax trees, for tests that check its shape.

Production code is every `.py` file outside tests/, bench/, migrations and the tool directories.
"""

import ast
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
# Directory names never walked: not production code, or not ours.
SKIPPED_DIRS = frozenset({"tests", "bench", "migrations", "node_modules", "var", "__pycache__"})


def production_files() -> Iterator[Path]:
    """Every production module, in a stable order."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIPPED_DIRS and not d.startswith(".") and not d.endswith(".egg-info")
        )
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(folder, name)


@cache
def parsed() -> tuple[tuple[str, ast.Module], ...]:
    """(path relative to the root, syntax tree) of every production module."""
    return tuple(
        (path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), filename=str(path)))
        for path in production_files()
    )
