"""Settings every service shares; each service subclasses this in its own `config.py`.

Configuration comes only from the environment (and an optional `.env` file for local runs).
"""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    service_name: str = "service"
    log_level: str = "INFO"
    log_json: bool = False
    # FastAPI's native OpenTelemetry instrumentation (spans, metrics, logs); it reports to the
    # OpenTelemetry providers configured in the process (e.g. by opentelemetry-instrument).
    otel_enabled: bool = False
    # Traces (shared.tracing): off (nothing instrumented, no cost) unless an OTLP collector's
    # base URL is given; spans then go to its `/v1/traces` (http/protobuf). The traces' service
    # name defaults to `service_name`. New traces are kept at `trace_sample_ratio` (0 to 1); a
    # span with a parent follows the parent's decision.
    otel_exporter_otlp_endpoint: str = ""
    otel_service_name: str = ""
    trace_sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (comma list, CIDRs, or "*").
    # The client address of a request is the first untrusted hop from the right; everything to
    # its left is the client's own claim and ignored. Same name and meaning as uvicorn's.
    forwarded_allow_ips: str = "127.0.0.1"

    database_url: str = "postgresql+asyncpg://postgres@localhost:5432/flightbook"
    db_pool_size: int = 10
    db_max_overflow: int = 20
    redis_url: str = "redis://localhost:6379/0"
    # A Redis Cluster instead (comma list of host:port, some of its nodes; empty: the one Redis
    # at `redis_url`, which then gives only credentials, TLS and options). shared.redis.
    redis_cluster_nodes: str = ""
    # Every Redis key (and stream) starts with this; tests use one prefix per run.
    redis_prefix: str = "fb:"

    # Token verification: public keys come from the auth service's JWKS.
    jwks_url: str = "http://localhost:3000/.well-known/jwks.json"
    jwt_issuer: str = "flightbook-auth"
    jwt_audience: str = "flightbook"
    jwt_leeway_seconds: int = 5
    # Service identity (shared.service_identity): `<service>.key` (this service's Ed25519
    # private key) and `<service>.pub` (every caller's public key). Outside production a
    # missing key pair is generated on first use.
    service_keys_dir: Path = Path("var/service-keys")

    # Where the other services live (also the gateway's route targets).
    auth_service_url: str = "http://localhost:3000"
    flight_search_url: str = "http://localhost:4000"
    seat_service_url: str = "http://localhost:5000"
    booking_service_url: str = "http://localhost:6000"
    payment_service_url: str = "http://localhost:7000"
    discount_service_url: str = "http://localhost:8000"
    ticket_service_url: str = "http://localhost:9000"
    notification_service_url: str = "http://localhost:9100"
    http_timeout_seconds: float = 5.0
    http_retries: int = 3

    # Load shedding (per process): requests handled at once, requests waiting for a turn and
    # how long one may wait; beyond that, 503 OVERLOADED with Retry-After. 0 in-flight: off.
    max_concurrent_requests: int = 64
    max_queued_requests: int = 256
    queue_timeout_seconds: float = 2.0

    # Request limits. A body over `max_body_bytes` is 413 (a route may declare more with
    # FastAPI's `max_body_size=`), one not received within `body_read_timeout_seconds` 408
    # (shared.limits). Headers (shared.serve.HttpProtocol): at most `max_header_bytes` (431),
    # complete within `header_read_timeout_seconds` of their first byte (408).
    max_body_bytes: int = 65_536
    body_read_timeout_seconds: float = 10.0
    max_header_bytes: int = 32_768
    header_read_timeout_seconds: float = 10.0

    # Events: the outbox relay is woken by Postgres NOTIFY; it polls for unsent events every
    # `outbox_listening_poll_seconds` while it listens, every `outbox_poll_seconds` while not.
    outbox_poll_seconds: float = 0.5
    outbox_listening_poll_seconds: float = 30.0
    # LISTEN for those notifications (one connection per process's relay). Off: poll only
    # (a pooler in transaction mode cannot LISTEN; the in-process tests, many apps in one
    # process, keep their connections for the pools).
    outbox_listen: bool = True
    # The service's background loops (outbox relay, consumers, sweepers, recovery, dispatch):
    # tests may turn them off and drive the same functions by hand (`shared.background.loops`).
    background_tasks: bool = True
    consumer_block_ms: int = 1000
    consumer_reclaim_idle_ms: int = 30_000
    consumer_max_deliveries: int = 5

    @property
    def service_urls(self) -> dict[str, str]:
        """Service name (as in `shared.services`) -> base URL."""
        return {
            "auth": self.auth_service_url,
            "flight-search": self.flight_search_url,
            "seat": self.seat_service_url,
            "booking": self.booking_service_url,
            "payment": self.payment_service_url,
            "discount": self.discount_service_url,
            "ticket": self.ticket_service_url,
            "notification": self.notification_service_url,
        }
