"""The one check of an RFC 9457 problem answer, as every service and the gateway send it."""

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"
PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "instance", "requestId"})


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """`response` is a problem+json answer with `status` (and `code`); its body.

    Checks the status, the content type (exactly application/problem+json), every member
    (`type` an https URL, `status` the status), the code when given, the body's `requestId`
    equal to the X-Request-ID header, and no traceback in the text.
    """
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body = response.json()
    assert body.keys() >= PROBLEM_MEMBERS, body
    assert body["status"] == status, body
    if code is not None:
        assert body["code"] == code, body
    assert body["type"].startswith("https://"), body
    assert body["requestId"] == response.headers["x-request-id"], (body, response.headers)
    assert "Traceback" not in response.text
    return body
