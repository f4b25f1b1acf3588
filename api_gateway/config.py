from functools import lru_cache

from shared.settings import BaseServiceSettings


class GatewaySettings(BaseServiceSettings):
    service_name: str = "gateway"

    # One proxied call (connect, each read and write) may take at most this long.
    gateway_upstream_timeout_seconds: float = 10.0
    # Connecting to a service that is down fails fast; a slow connect is a 503, not a 504.
    gateway_connect_timeout_seconds: float = 3.0
    # Pooled connections to each service; a request waits for one at most the connect timeout.
    gateway_upstream_connections_per_service: int = 100
    # `GET /health` asks every service with this timeout.
    gateway_health_timeout_seconds: float = 2.0
    # The merged OpenAPI document is rebuilt at most this often.
    gateway_openapi_cache_seconds: float = 60.0

    # Fixed-window rate limits (Redis): per user (token subject) and per client address.
    rate_limit_per_user: int = 600
    rate_limit_per_address: int = 1200
    rate_limit_window_seconds: int = 60


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()
