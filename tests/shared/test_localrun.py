"""`make run`'s supervisord configuration (shared.localrun) and its output listener
(shared.runlog). The supervised stack itself: tests/e2e/test_local_run.py."""

import configparser
import io
from pathlib import Path

from shared import localrun, runlog


def test_every_procfile_process_is_a_program_restarted_when_it_exits(tmp_path: Path) -> None:
    config = configparser.RawConfigParser()
    config.read(localrun.write_config(tmp_path / "run"))
    processes = localrun.procfile()
    assert config[f"group:{localrun.GROUP}"]["programs"].split(",") == list(processes)
    for name, command in processes.items():
        program = config[f"program:{name}"]
        # the Procfile's own line, through a shell that expands ${PORT:-3000} and then execs
        assert program["command"] == "/bin/sh -c " + repr(f"exec {command}")
        assert program["autorestart"] == "true"
        assert program["stopasgroup"] == program["killasgroup"] == "true"
        assert program["stdout_events_enabled"] == "true"
    assert (tmp_path / "run" / "supervisord.conf").stat().st_mode & 0o077 == 0


def test_output_is_prefixed_with_its_process_and_partial_lines_wait() -> None:
    prefixer = runlog.Prefixer()
    assert prefixer.feed("auth", "one\ntw") == ["auth         | one"]
    assert prefixer.feed("notification", "x\n") == ["notification | x"]
    assert prefixer.feed("auth", "o\n") == ["auth         | two"]


def event(name: str, payload: str) -> bytes:
    body = payload.encode()
    return f"ver:3.0 server:supervisor eventname:{name} len:{len(body)}\n".encode() + body


def test_the_listener_speaks_the_protocol_in_bytes_and_says_what_happened(
    tmp_path: Path,
) -> None:
    booking = "processname:booking groupname:services"
    seats = "processname:seats groupname:services"
    stdin = io.BytesIO(
        event("PROCESS_LOG_STDOUT", f"{booking} pid:7 channel:stdout\n₹ 499 paid\n")
        + event("PROCESS_STATE_EXITED", f"{booking} from_state:RUNNING expected:0 pid:7")
        + event("PROCESS_STATE_BACKOFF", f"{seats} from_state:STARTING tries:2")
        + event("PROCESS_STATE_FATAL", f"{seats} from_state:BACKOFF")
    )
    stdout, out = io.BytesIO(), io.StringIO()
    runlog.listen(stdin, stdout, out, tmp_path)
    assert stdout.getvalue() == b"READY\nRESULT 2\nOK" * 4 + b"READY\n"
    lines = out.getvalue().splitlines()
    assert lines[0] == "booking      | ₹ 499 paid"
    assert lines[1] == "supervisord  | booking (pid 7) exited unexpectedly: starting it again now"
    assert "seats exited within 5 s of starting (try 2 of 20): next try in 2 s" in lines[2]
    assert "seats given up after 20 quick exits" in lines[3]
    assert lines[3].endswith(f"-c {tmp_path / 'supervisord.conf'} start services:seats")
