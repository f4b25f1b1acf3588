"""SPEC §3, rows 1 to 12, in order, through the gateway, with every service a real process:
signup, login, search, seat map, hold, book, read, discount, pay, ticket (JSON and PDF),
notifications (the automatic ones once each, and one sent by hand). The steps are
`tests/e2e/journey.py`'s, which the scale runs walk through too.
"""

import httpx
import pytest

from tests.e2e.conftest import SignUp
from tests.e2e.journey import spec_journey

pytestmark = pytest.mark.e2e


async def test_the_whole_journey_of_spec_section_3(
    gateway: httpx.AsyncClient,
    signup: SignUp,
    admin: dict[str, str],
    reference_data: None,
    discount_codes: None,
) -> None:
    await spec_journey(gateway, signup, admin)
