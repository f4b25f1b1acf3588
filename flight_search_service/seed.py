"""Demo data: airports, aircraft and the demo schedule (`python -m shared.manage seed`).

Idempotent: airports and aircraft are upserted; flights that already exist (same number and
departure) are skipped; each new flight gets one `flight.created` in the outbox, which the
service's relay publishes when it runs.
"""

from flight_search_service.airports import AirportDirectory, load_reference_data
from flight_search_service.config import get_settings
from flight_search_service.schedule import demo_schedule, seed_flights_date, today_in_india
from flight_search_service.service import insert_flights
from shared.db import Database


async def seed() -> None:
    settings = get_settings()
    db = Database(
        settings.database_url, pool_size=2, max_overflow=0, application_name="flight-search-seed"
    )
    try:
        today = today_in_india()
        flights = demo_schedule(
            today=today, days=settings.seed_days, seed=settings.seed_random_seed
        )
        async with db.sessionmaker() as session:
            # Two transactions: the directory reads the airports committed by the first.
            async with session.begin():
                airports, aircraft = await load_reference_data(session=session)
            async with session.begin():
                new = await insert_flights(
                    session=session, flights=flights, airports=AirportDirectory(db.sessionmaker)
                )
    finally:
        await db.dispose()
    print(
        f"  {airports} airports, {aircraft} aircraft types; {len(new)} new of {len(flights)} "
        f"demo flights ({today.isoformat()} + {settings.seed_days} days); "
        f"AI101-AI150 fly on {seed_flights_date(today).isoformat()}"
    )
