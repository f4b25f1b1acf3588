"""Control characters are refused in every text a request carries (SPEC §2): a 422, never a 500.

Postgres refuses NUL in text (so a NUL reaching a query is a 500), and no name, code, email or
query parameter has a use for any other control character. What is refused:

- everywhere: the C0 controls (U+0000-U+001F), DEL (U+007F) and the C1 controls
  (U+0080-U+009F), and unpaired surrogates (U+D800-U+DFFF: JSON can spell one, "\\ud800",
  but it is not text, and encoding it for Postgres fails);
- except that a free-text field (a notification's message: `shared.schemas.MultilineText`)
  may hold tab, line feed and carriage return.

Request bodies are checked by `shared.schemas.RequestModel` (every field, nested models and
lists too); the query string, the path and the header values by `TextGuard` below, before
routing.
"""

import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import problem_response

_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff"
_LINE = "\t\n\r"
_REFUSED = re.compile(f"[{_CONTROL}{_LINE}]")
_REFUSED_IN_FREE_TEXT = re.compile(f"[{_CONTROL}]")
_UNHASHABLE = re.compile("[\x00\ud800-\udfff]")
# RFC 9110 §5.5: a field value is visible characters, spaces, tabs and obs-text (0x80-0xFF).
_REFUSED_IN_HEADER = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

CONTROL_CHARACTER = "control_character"


def control_character(text: str, *, free_text: bool = False) -> str | None:
    """The first refused character of `text`, or None."""
    found = (_REFUSED_IN_FREE_TEXT if free_text else _REFUSED).search(text)
    return found.group() if found else None


def unhashable(text: str) -> str | None:
    """The first NUL or unpaired surrogate of `text`, or None: what a secret that is only
    hashed may not hold (a surrogate cannot be encoded; bcrypt refuses NUL)."""
    found = _UNHASHABLE.search(text)
    return found.group() if found else None


def describe(char: str) -> str:
    what = "unpaired surrogates" if "\ud800" <= char <= "\udfff" else "control characters"
    return f"must not contain {what} (found U+{ord(char):04X})"


def _refusals(scope: Scope) -> list[dict[str, Any]]:
    """Where the request carries a control character: pydantic-style error entries."""
    errors = []
    for name, value in scope["headers"]:
        if found := _REFUSED_IN_HEADER.search(value):
            errors.append(_error(["header", name.decode("latin-1")], chr(found.group()[0])))
    # The path as routed (percent-decoded); the query as the app will read it.
    if bad := control_character(scope["path"]):
        errors.append(_error(["path"], bad))
    query = scope.get("query_string", b"").decode("latin-1")
    if query and (bad := control_character(unquote(query, errors="replace"))):
        named = [
            _error(["query", name], char)
            for name, value in parse_qsl(query, keep_blank_values=True, errors="replace")
            if (char := control_character(name) or control_character(value))
        ]
        errors.extend(named or [_error(["query"], bad)])
    return errors


def _error(loc: list[str], char: str) -> dict[str, Any]:
    return {"loc": loc, "message": describe(char), "type": CONTROL_CHARACTER}


class TextGuard:
    """Refuses (422 VALIDATION_FAILED) a request whose path, query or header values carry a
    control character: before routing, so no handler, parameter parser or query sees one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (errors := _refusals(scope)):
            first = errors[0]
            where = ".".join(first["loc"])
            response = problem_response(
                Request(scope),
                status=422,
                code="VALIDATION_FAILED",
                title="Request validation failed",
                detail=f"{where}: {first['message']}",
                errors=errors,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
