"""Helpers every test module may use: `from tests.helpers import assert_problem, bearer, ...`.

- `problems`: `assert_problem`, the one check of a problem+json answer;
- `auth`: `access_claims`, `b64url`, `bearer`, `service_token`, `service_headers`;
- `waiting`: `eventually`;
- `network`: `free_port`, `free_ports`;
- `bodies`: `Chunks`, a chunked request body;
- `source`: `parsed`, the production code as syntax trees;
- `data`: shared values (`IST`, the test cards, `INSANE_AMOUNTS`, `unique_email`).

Test modules import from here (or from a package's conftest/harness), never from another
test module.
"""

from tests.helpers.auth import (
    access_claims,
    b64url,
    bearer,
    service_claims,
    service_headers,
    service_token,
)
from tests.helpers.bodies import Chunks
from tests.helpers.data import (
    DECLINE_CARD,
    INSANE_AMOUNTS,
    IST,
    NO_FUNDS_CARD,
    SUCCESS_CARD,
    unique_email,
)
from tests.helpers.network import free_port, free_ports, uvicorn_in_thread
from tests.helpers.problems import PROBLEM_JSON, PROBLEM_MEMBERS, assert_problem
from tests.helpers.waiting import eventually

__all__ = [
    "DECLINE_CARD",
    "INSANE_AMOUNTS",
    "IST",
    "NO_FUNDS_CARD",
    "PROBLEM_JSON",
    "PROBLEM_MEMBERS",
    "SUCCESS_CARD",
    "Chunks",
    "access_claims",
    "assert_problem",
    "b64url",
    "bearer",
    "eventually",
    "free_port",
    "free_ports",
    "service_claims",
    "service_headers",
    "service_token",
    "unique_email",
    "uvicorn_in_thread",
]
