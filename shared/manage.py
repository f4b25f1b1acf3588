"""Operations for the whole system: `python -m shared.manage <command>`.

check      wait briefly for Postgres and Redis (embedded ones where none is reachable, see
           shared.localstores); create the database if it is missing
migrate    alembic upgrade head for every service (or --service NAME)
downgrade  alembic downgrade for one service (--service NAME --revision REV)
seed       load the demo data of every service that has some (or --service NAME; idempotent)
keys       make every service's key pair for service tokens, where missing (SERVICE_KEYS_DIR)
dropdb     drop the database named by DATABASE_URL (used by the test harness)
run        `make run`: check, migrate, seed, keys, then every process under supervisord
           (shared.localrun); embedded stores it started are stopped when it ends
stop-stores  stop the embedded Postgres and Redis under var/
move-legacy-streams  upgrade step: events under the streams' old names (`events:<domain>`)
           moved to the new `{events}:<domain>` ones, once every service runs the new version
"""

import argparse
import asyncio
import importlib
import importlib.util
import os
import sys
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from shared import localstores
from shared.embedded import EmbeddedError
from shared.migrations import DEFAULT_URL
from shared.redis import create_redis
from shared.services import SERVICES, ServiceInfo

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_URL)


def _admin_dsn(url: str) -> tuple[str, str]:
    """(DSN of the server's `postgres` database, name of the target database)."""
    u = make_url(url)
    admin = u.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), u.database or "flightbook"


async def ensure_database(url: str) -> bool:
    dsn, name = _admin_dsn(url)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    dsn, name = _admin_dsn(url)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _redis_problem(url: str, cluster_nodes: str) -> str | None:
    """Why the Redis (or the Redis Cluster) the services would use is unreachable, or None."""
    where = f"cluster {cluster_nodes}" if cluster_nodes else url
    try:
        redis = create_redis(url, cluster_nodes=cluster_nodes)
    except ValueError as exc:
        return f"Redis is misconfigured: {exc}"
    try:
        await redis.ping()
    except Exception as exc:
        return f"Redis is unreachable at {where} ({type(exc).__name__})"
    finally:
        await redis.aclose()
    return None


async def check(wait_seconds: float) -> int:
    url = database_url()
    redis_url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    cluster_nodes = os.environ.get("REDIS_CLUSTER_NODES", "")
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        problems = []
        try:
            created = await ensure_database(url)
            if created:
                print(f"created database {make_url(url).database}")
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            problems.append(
                f"PostgreSQL is unreachable at {make_url(url).render_as_string()} "
                f"({type(exc).__name__}: {exc})"
            )
        redis_problem = await _redis_problem(redis_url, cluster_nodes)
        if redis_problem:
            problems.append(redis_problem)
        if not problems:
            return 0
        if asyncio.get_running_loop().time() >= deadline:
            for line in problems:
                print(f"error: {line}", file=sys.stderr)
            return 1
        await asyncio.sleep(1)


def migratable() -> list[ServiceInfo]:
    return [s for s in SERVICES if (ROOT / s.package / "migrations" / "env.py").exists()]


def alembic_config(info: ServiceInfo) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / info.package / "migrations"))
    cfg.attributes["database_url"] = database_url()
    return cfg


def migrate(service: str | None, revision: str) -> None:
    for info in migratable():
        if service in (None, info.name):
            print(f"migrate {info.name} -> {revision}")
            command.upgrade(alembic_config(info), revision)


def downgrade(service: str, revision: str) -> None:
    info = next(s for s in migratable() if s.name == service)
    command.downgrade(alembic_config(info), revision)


def seed(service: str | None = None) -> None:
    """Each service's demo data, or only `service`'s (where each service has a database of its
    own, the Kubernetes job seeds each with its own DATABASE_URL)."""
    for info in SERVICES:
        if service not in (None, info.name):
            continue
        if importlib.util.find_spec(f"{info.package}.seed") is None:
            continue
        module = importlib.import_module(f"{info.package}.seed")
        print(f"seed {info.name}")
        asyncio.run(module.seed())


def keys(directory: Path) -> None:
    """Every service's key pair, generated where missing (existing keys are kept)."""
    from shared.service_identity import ensure_key_pair

    made = [info.name for info in SERVICES if ensure_key_pair(directory, info.name)[1]]
    if made:
        print(f"generated service keys in {directory}: {', '.join(made)}")


def run() -> int:
    """`make run`, in one process so that it stops the embedded stores it started."""
    from shared import localrun
    from shared.settings import BaseServiceSettings

    stores = _stores("stopped again when this run ends")
    if stores is None:
        return 1
    try:
        os.environ.update(stores.urls)  # migrations, seed and services: the same stores
        if asyncio.run(check(10.0)):
            return 1
        migrate(None, "head")
        seed()
        keys(BaseServiceSettings().service_keys_dir)
        return localrun.supervise()
    finally:
        localstores.stop(stores.started)


def _stores(afterwards: str) -> localstores.Stores | None:
    """`localstores.ensure()`, or None when an embedded store could not start (said why)."""
    try:
        return localstores.ensure(afterwards=afterwards)
    except EmbeddedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


async def move_legacy_streams() -> int:
    from shared.events import move_legacy_streams as move
    from shared.redis import Keys
    from shared.settings import BaseServiceSettings

    settings = BaseServiceSettings()
    redis = create_redis(settings.redis_url, cluster_nodes=settings.redis_cluster_nodes)
    try:
        return await move(redis, Keys(settings.redis_prefix))
    finally:
        await redis.aclose()


def stop_stores() -> None:
    stopped = localstores.stop_all()
    print(f"stopped embedded {' and '.join(stopped)}" if stopped else "no embedded store runs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.manage")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check")
    p.add_argument("--wait", type=float, default=10.0)
    p = sub.add_parser("migrate")
    p.add_argument("--service")
    p.add_argument("--revision", default="head")
    p = sub.add_parser("downgrade")
    p.add_argument("--service", required=True)
    p.add_argument("--revision", default="base")
    p = sub.add_parser("seed")
    p.add_argument("--service", choices=[s.name for s in SERVICES])
    p = sub.add_parser("keys")
    p.add_argument("--dir", type=Path, help="default: SERVICE_KEYS_DIR")
    sub.add_parser("dropdb")
    sub.add_parser("run")
    sub.add_parser("stop-stores")
    sub.add_parser("move-legacy-streams")
    args = parser.parse_args(argv)

    if args.command == "run":
        return run()
    if args.command == "stop-stores":
        stop_stores()
        return 0
    if args.command == "check" and not _stores("they keep running: `make stop-stores` stops them"):
        return 1
    localstores.apply_local_env()
    if args.command == "check":
        return asyncio.run(check(args.wait))
    if args.command == "migrate":
        migrate(args.service, args.revision)
    elif args.command == "downgrade":
        downgrade(args.service, args.revision)
    elif args.command == "seed":
        seed(args.service)
    elif args.command == "keys":
        from shared.settings import BaseServiceSettings

        keys(args.dir or BaseServiceSettings().service_keys_dir)
    elif args.command == "dropdb":
        asyncio.run(drop_database(database_url()))
    elif args.command == "move-legacy-streams":
        print(f"moved {asyncio.run(move_legacy_streams())} event(s) to the new stream names")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
