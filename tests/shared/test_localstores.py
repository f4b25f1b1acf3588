"""Embedded Postgres and Redis where none is reachable (shared.localstores, shared.embedded).

The policy is tested on stand-in servers and a stand-in network; the last test starts the real
embedded servers in a directory of its own and uses them.
"""

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import redis
from sqlalchemy.engine import make_url

from shared import localstores
from shared.embedded import EmbeddedPostgres, EmbeddedRedis
from shared.manage import drop_database, ensure_database

DEFAULT_PORTS = (5432, 6379)


@dataclass
class FakeServer:
    name: str
    directory: Path
    port: int | None = None
    starts: list[int] = field(default_factory=list)

    def pid(self) -> int | None:
        return 4242 if self.port else None

    def running_url(self) -> str | None:
        return f"fake://127.0.0.1:{self.port}/0" if self.port else None

    def start(self, port: int) -> str:
        self.port = port
        self.starts.append(port)
        return f"fake://127.0.0.1:{port}/0"

    def stop(self) -> None:
        self.port = None


@dataclass
class World:
    """The stand-in servers, and whether something listens at the default URLs."""

    servers: dict[str, FakeServer]
    var: Path
    defaults_up: bool = False

    def listening(self, host: str, port: int, timeout: float = 1.0) -> bool:
        if port in DEFAULT_PORTS:
            return self.defaults_up
        return any(s.port == port for s in self.servers.values())


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> World:
    w = World(
        servers={
            "DATABASE_URL": FakeServer("Postgres", tmp_path / "var" / "pg"),
            "REDIS_URL": FakeServer("Redis", tmp_path / "var" / "redis"),
        },
        var=tmp_path / "var",
    )
    monkeypatch.setattr(localstores, "servers", lambda var=w.var: w.servers)
    monkeypatch.setattr(localstores, "listening", w.listening)
    monkeypatch.chdir(tmp_path)  # no .env but the test's own
    monkeypatch.delenv("EMBEDDED_STORES", raising=False)
    return w


def test_nothing_at_the_defaults_starts_embedded_servers_and_says_so_in_one_line(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    stores = localstores.ensure({}, world.var, afterwards="stopped at the end")
    assert stores.started == list(world.servers.values())
    assert stores.urls == stores.embedded
    assert stores.urls["DATABASE_URL"].startswith("fake://127.0.0.1:")
    assert localstores.read_local_env(world.var) == stores.urls
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("nothing listens at localhost:5432 or localhost:6379: embedded Postgres")
    assert "(started, data in " in line and line.endswith("; stopped at the end")


def test_running_embedded_servers_are_reused(world: World) -> None:
    first = localstores.ensure({}, world.var)
    again = localstores.ensure({}, world.var)
    assert again.urls == first.urls and again.started == []
    assert [len(s.starts) for s in world.servers.values()] == [1, 1]


def test_a_running_server_is_found_in_its_directory_even_without_the_local_env(
    world: World,
) -> None:
    first = localstores.ensure({}, world.var)
    (world.var / "local.env").unlink()
    again = localstores.ensure({}, world.var)
    assert again.urls == first.urls and again.started == []


def test_a_stopped_server_comes_back_on_its_previous_port(world: World) -> None:
    first = localstores.ensure({}, world.var)
    localstores.stop(first.started)
    again = localstores.ensure({}, world.var)
    assert again.urls == first.urls and len(again.started) == 2


def test_the_defaults_are_used_where_something_listens(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.defaults_up = True
    stores = localstores.ensure({}, world.var)
    assert stores.urls == localstores.DEFAULTS and stores.started == []
    assert not (world.var / "local.env").exists()
    assert capsys.readouterr().out == ""


def test_always_embeds_even_where_the_defaults_listen(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.defaults_up = True
    monkeypatch.setenv("EMBEDDED_STORES", "always")
    assert len(localstores.ensure({}, world.var).started) == 2


def test_never_keeps_the_defaults_even_unreachable(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBEDDED_STORES", "never")
    stores = localstores.ensure({}, world.var)
    assert stores.urls == localstores.DEFAULTS and stores.started == []


@pytest.mark.parametrize("mode", ["auto", "always"])
def test_a_url_set_in_the_environment_is_kept_even_unreachable(
    world: World, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("EMBEDDED_STORES", mode)
    given = "postgresql+asyncpg://postgres@db.invalid:5433/flightbook"
    stores = localstores.ensure({"DATABASE_URL": given}, world.var)
    assert stores.urls["DATABASE_URL"] == given
    assert stores.started == [world.servers["REDIS_URL"]]


def test_a_dotenv_with_the_defaults_changes_nothing_but_another_url_is_kept(
    world: World,
) -> None:
    Path(".env").write_text(f"DATABASE_URL={localstores.DEFAULTS['DATABASE_URL']}\n")
    assert len(localstores.ensure({}, world.var).started) == 2
    Path(".env").write_text("REDIS_URL=redis://cache.invalid:6380/0\n")
    stores = localstores.ensure({}, world.var)
    assert stores.urls["REDIS_URL"] == "redis://cache.invalid:6380/0"
    assert "REDIS_URL" not in localstores.read_local_env(world.var)


def test_the_local_env_fills_only_what_the_environment_does_not_set(world: World) -> None:
    stores = localstores.ensure({}, world.var)
    environ = {"REDIS_URL": "redis://mine:6379/0"}
    localstores.apply_local_env(environ, world.var)
    assert environ == {
        "DATABASE_URL": stores.urls["DATABASE_URL"],
        "REDIS_URL": "redis://mine:6379/0",
    }


def test_the_local_env_is_private(world: World) -> None:
    localstores.ensure({}, world.var)
    assert stat.S_IMODE((world.var / "local.env").stat().st_mode) == 0o600


@pytest.fixture
def bystander() -> Iterator[psutil.Process]:
    """An unrelated live process (what a stale pidfile or lease may name after a reboot)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield psutil.Process(child.pid)
    finally:
        child.kill()
        child.wait()


def test_a_server_stays_up_while_another_process_holds_a_lease_on_it(
    world: World, bystander: psutil.Process
) -> None:
    first = localstores.ensure({}, world.var)
    leases = world.var / "stores.leases"
    assert (leases / str(os.getpid())).exists()
    (leases / str(bystander.pid)).write_text(f"{bystander.create_time():.2f} REDIS_URL\n")
    localstores.stop(first.started)
    assert world.servers["DATABASE_URL"].pid() is None
    assert world.servers["REDIS_URL"].pid() is not None  # the other process still uses it
    assert not (leases / str(os.getpid())).exists()
    bystander.kill()
    bystander.wait()
    localstores.stop([world.servers["REDIS_URL"]])  # its lease is dead now: stopped, removed
    assert world.servers["REDIS_URL"].pid() is None
    assert list(leases.iterdir()) == []


def test_a_lease_whose_pid_names_another_process_by_now_is_dead(
    world: World, bystander: psutil.Process
) -> None:
    first = localstores.ensure({}, world.var)
    (world.var / "stores.leases" / str(bystander.pid)).write_text("12.00 DATABASE_URL\n")
    localstores.stop(first.started)
    assert all(s.pid() is None for s in world.servers.values())


def test_a_pidfile_naming_an_unrelated_process_is_stale_and_that_process_untouched(
    tmp_path: Path, bystander: psutil.Process
) -> None:
    pg, cache = EmbeddedPostgres(tmp_path / "pg"), EmbeddedRedis(tmp_path / "redis")
    pg.directory.mkdir()
    cache.directory.mkdir()
    postmaster = pg.directory / "postmaster.pid"
    postmaster.write_text(f"{bystander.pid}\n{pg.directory}\n0\n5999\n")
    cache.pidfile.write_text(f"{bystander.pid}\n")
    cache.portfile.write_text("5998\n")
    for server in (pg, cache):
        assert server.running_url() is None
        server.stop()  # nothing of ours runs: nothing signalled
        assert server.pid() is None
    assert not postmaster.exists() and not cache.pidfile.exists()
    assert bystander.is_running() and bystander.status() != psutil.STATUS_ZOMBIE


def test_a_cluster_initialised_with_trust_before_keeps_its_url_without_a_password(
    tmp_path: Path,
) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    pg.directory.mkdir()
    (pg.directory / "PG_VERSION").write_text("16\n")
    assert pg._password() is None and not pg.password_file.exists()
    assert pg.url(5999, pg._password()) == "postgresql+asyncpg://postgres@127.0.0.1:5999/flightbook"


async def test_the_real_embedded_servers_start_serve_are_reused_and_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMBEDDED_STORES", "always")
    monkeypatch.chdir(tmp_path)
    var = tmp_path / "var"
    try:
        stores = localstores.ensure({}, var)
        assert len(stores.started) == 2
        url = stores.urls["DATABASE_URL"]
        assert make_url(url).host == "127.0.0.1" and make_url(url).password
        for private in (var / "pg", var / "redis", var / "pg.password", var / "local.env"):
            assert stat.S_IMODE(private.stat().st_mode) in (0o700, 0o600), private
        assert await ensure_database(url) is True  # what `make check` does first
        await drop_database(url)
        password = (var / "redis" / "password").read_text().strip()
        assert f":{password}@" in stores.urls["REDIS_URL"]
        client = redis.Redis.from_url(stores.urls["REDIS_URL"])
        assert client.ping() is True
        client.close()
        anonymous = redis.Redis.from_url(stores.urls["REDIS_URL"].replace(f":{password}@", ""))
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        anonymous.close()
        again = localstores.ensure({}, var)  # found running in their directories
        assert again.urls == stores.urls and again.started == []
    finally:
        stopped = localstores.stop_all(var)
    assert stopped == ["Postgres", "Redis"]
    assert all(s.pid() is None for s in localstores.servers(var).values())
