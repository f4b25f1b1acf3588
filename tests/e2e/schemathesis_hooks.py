"""Checks of our own for the schemathesis run (loaded through SCHEMATHESIS_HOOKS).

A few operations may refuse a schema-valid request with 422 for a business rule no schema can
state (an unknown airport, a weak password: `BUSINESS_REFUSALS` in test_schemathesis.py). That
allowance must not hide a document that is simply wrong: a request the document calls valid is
never refused as malformed. Email syntax is the one exception: JSON Schema's `format: email`
is looser than any real validator (special-use domains such as `.test`, quoted local parts,
address literals), and an address refused for it is refused as malformed, rightly.
"""

from typing import Any

import schemathesis


@schemathesis.check
def valid_requests_are_never_malformed(ctx: Any, response: Any, case: Any) -> None:
    """A request generated as valid answered 422 VALIDATION_FAILED: the document and the
    server disagree on what is well formed."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return
    try:
        code = response.json().get("code")
    except ValueError:
        return
    errors = response.json().get("errors") or []
    if code == "VALIDATION_FAILED" and not all(_is_email(e) for e in errors):
        raise AssertionError(
            "A request the document calls valid was refused as malformed (VALIDATION_FAILED): "
            + response.text[:500]
        )


def _is_email(error: dict[str, Any]) -> bool:
    loc = error.get("loc") or []
    return bool(loc) and loc[-1] == "email"
