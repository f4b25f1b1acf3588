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
    # `GET /status` asks every service's `/health` with this timeout, and keeps the answer
    # this long (however often it is asked, the services are probed at most that often).
    gateway_health_timeout_seconds: float = 2.0
    gateway_status_cache_seconds: float = 5.0
    # Request bodies: at most this many bytes (413), received within this many seconds (408),
    # both before an upstream connection is taken. At least the largest `max_body_size` a
    # service route declares, or that route cannot be reached through the gateway.
    gateway_max_body_bytes: int = 65_536
    gateway_body_timeout_seconds: float = 10.0
    # Client addresses (comma list, CIDRs, or "*") that may read the gateway's own `/metrics`;
    # to everyone else it does not exist (404). Behind a trusted proxy, the address it forwards.
    gateway_metrics_allow_ips: str = "127.0.0.1,::1"
    # The merged OpenAPI document is rebuilt at most this often.
    gateway_openapi_cache_seconds: float = 60.0

    # Fixed-window rate limits (Redis): per user (token subject) and per client address.
    rate_limit_per_user: int = 600
    rate_limit_per_address: int = 1200
    rate_limit_window_seconds: int = 60


def replica_urls(url: str) -> list[str]:
    """The processes behind one service URL setting. The gateway takes a comma-separated list
    (the service's replicas) and sends requests to each in turn; one URL is one process, or a
    load balancer in front of several. (A service's own calls to another take one URL.)"""
    return [part.strip() for part in url.split(",") if part.strip()] or [url]


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()
