"""Secrets kept in files under `var/` (or a mounted secret): created once, never overwritten.

Several processes may start at once and all find a file missing (nine services, or N workers
of one); each writes its candidate to a private temporary file and links it into place, which
fails if the file appeared meanwhile: the first one wins and everybody reads the winner.
"""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes]) -> tuple[bytes, bool]:
    """The file's content, creating it (mode 0600) from `make()` if it does not exist yet.

    Returns the content and whether this call created it."""
    try:
        return path.read_bytes(), False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(make())
        try:
            os.link(tmp, path)  # fails if another process won the race: never overwrite
        except FileExistsError:
            return path.read_bytes(), False
    finally:
        os.unlink(tmp)
    return path.read_bytes(), True


def write_public(path: Path, content: bytes) -> None:
    """Write a non-secret file (a public key) atomically, readable by everyone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
