"""Flight search service: direct and one-stop flight search over the flight catalog."""

from functools import lru_cache

from pydantic import Field

from shared.settings import BaseServiceSettings


class FlightSearchSettings(BaseServiceSettings):
    service_name: str = "flight-search"

    # A connection needs at least this long on the ground (MIN_CONNECTION_MINUTES) ...
    min_connection_minutes: int = Field(45, ge=0, le=24 * 60)
    # ... and at most this long (MAX_LAYOVER_MINUTES).
    max_layover_minutes: int = Field(720, ge=0, le=48 * 60)

    # Search results are cached in Redis at most this long (SEARCH_CACHE_TTL_SECONDS), and
    # never past the first departure in them. 0 turns the cache off.
    search_cache_ttl_seconds: int = Field(300, ge=0, le=24 * 3600)
    # Itineraries returned when the client does not ask for a `limit` (SEARCH_DEFAULT_LIMIT),
    # and the most it may ask for (SEARCH_MAX_LIMIT).
    search_default_limit: int = Field(100, ge=1)
    search_max_limit: int = Field(1000, ge=1)
    # Airports returned by GET /api/airports (AIRPORTS_MAX_LIMIT).
    airports_max_limit: int = Field(50, ge=1)

    # Demo schedule (the seed step): days from today (SEED_DAYS) and the generator's seed
    # (SEED_RANDOM_SEED); the same seed and day give the same schedule.
    seed_days: int = Field(30, ge=1, le=366)
    seed_random_seed: int = 20_260_101


@lru_cache
def get_settings() -> FlightSearchSettings:
    return FlightSearchSettings()
