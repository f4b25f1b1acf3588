"""`make run`: every process of the Procfile under supervisord, restarted when it exits.

The Procfile stays the one list of processes (honcho and foreman run it as it is). This module
turns it into a supervisord configuration (`supervisord_config`) and runs supervisord in the
foreground (`supervise`). A process that exits after it was up `STARTSECS` is started again at
once; one that exits sooner is retried after 1, 2, 3, ... s and given up after `STARTRETRIES`
tries in a row. The others are never touched. Ctrl-C (or SIGTERM) stops every process, each
with its process group, SIGKILL after `STOPWAITSECS`. `shared.runlog` prints each process's
output prefixed with its name, and a line for each exit and retry.
"""

import os
import secrets
import shlex
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
RUN_DIR = ROOT / "var" / "run"
STARTSECS = 5
STARTRETRIES = 20
STOPWAITSECS = 10
GROUP = "services"  # supervisorctl names a process services:<name>


def procfile(path: Path = PROCFILE) -> dict[str, str]:
    """Process name -> shell command, as honcho reads it."""
    processes = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def _program(name: str, command: str, *, root: Path, run_dir: Path) -> str:
    # The shell expands the Procfile's ${VAR:-default} and `exec` leaves the server itself as
    # the process supervisord watches and signals (`%` is supervisord's interpolation).
    shell = shlex.join(["/bin/sh", "-c", f"exec {command}"]).replace("%", "%%")
    return f"""
[program:{name}]
command={shell}
directory={root}
autorestart=true
startsecs={STARTSECS}
startretries={STARTRETRIES}
stopsignal=TERM
stopwaitsecs={STOPWAITSECS}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={run_dir / f"{name}.log"}
stdout_logfile_maxbytes=10MB
stdout_logfile_backups=2
stdout_events_enabled=true
"""


def supervisord_config(
    processes: Mapping[str, str], *, root: Path, run_dir: Path, password: str
) -> str:
    """supervisord's configuration: `processes` in one group (stopped together, not one after
    the other), the output listener, and a control socket (`supervisorctl -c
    <run_dir>/supervisord.conf status`; the password only keeps supervisord from warning that
    the socket has none: its mode already keeps others out)."""
    # Running as root, naming the user keeps supervisord from warning that it did not drop
    # privileges (there are none to drop: the user started it).
    user = "user=root\n" if os.geteuid() == 0 else ""
    head = f"""[supervisord]
nodaemon=true
{user}logfile={run_dir / "supervisord.log"}
logfile_maxbytes=5MB
pidfile={run_dir / "supervisord.pid"}
childlogdir={run_dir}

[unix_http_server]
file={run_dir / "supervisor.sock"}
chmod=0700
username=flightbook
password={password}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{run_dir / "supervisor.sock"}
username=flightbook
password={password}

[eventlistener:output]
command={shlex.join([sys.executable, "-m", "shared.runlog", str(run_dir)])}
directory={root}
priority=1
events=PROCESS_LOG,PROCESS_STATE_EXITED,PROCESS_STATE_BACKOFF,PROCESS_STATE_FATAL
buffer_size=10000
autorestart=true
stdout_logfile=NONE
stderr_logfile=/dev/stdout
stderr_logfile_maxbytes=0

[group:{GROUP}]
programs={",".join(processes)}
"""
    body = [_program(n, c, root=root, run_dir=run_dir) for n, c in processes.items()]
    return head + "".join(body)


def write_config(run_dir: Path = RUN_DIR, *, root: Path = ROOT) -> Path:
    """The configuration for the Procfile, written to `run_dir/supervisord.conf`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "supervisord.conf"
    path.touch(mode=0o600)
    path.chmod(0o600)
    processes = procfile(root / "Procfile")
    password = secrets.token_urlsafe(16)
    path.write_text(supervisord_config(processes, root=root, run_dir=run_dir, password=password))
    return path


def supervisord_argv(config: Path) -> list[str]:
    """supervisord in the foreground with `config`."""
    return [sys.executable, "-m", "supervisor.supervisord", "--nodaemon", "-c", str(config)]


def process_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment, over `.env` (as honcho gives it: the Procfile's ports may be there)."""
    dotenv = {k: v for k, v in dotenv_values(".env").items() if v is not None}
    return {**dotenv, **environ, "PYTHONUNBUFFERED": "1"}


def supervise(run_dir: Path = RUN_DIR, *, root: Path = ROOT) -> int:
    """Run supervisord over the Procfile until Ctrl-C or SIGTERM; its exit code."""
    config = write_config(run_dir, root=root)
    count = len(procfile())
    print(
        f"supervisord: {count} processes from the Procfile, each restarted if it exits; "
        f"logs in {run_dir}; Ctrl-C stops them all",
        flush=True,
    )
    child = subprocess.Popen(supervisord_argv(config), cwd=root, env=process_env())  # noqa: S603

    def forward(signum: int, _frame: FrameType | None) -> None:
        child.send_signal(signum)

    # Ctrl-C reaches supervisord from the terminal; a SIGTERM or SIGHUP sent to us is passed on.
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
        signal.SIGHUP: signal.signal(signal.SIGHUP, forward),
    }
    try:
        return child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
