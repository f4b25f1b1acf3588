"""supervisord's event listener for `make run` (`shared.localrun`): what each process prints,
prefixed with its name as honcho did, and one plain line for each exit, retry and give-up.

It speaks supervisord's event listener protocol on stdin/stdout in bytes (a header's `len`
counts bytes, so a text stream would lose its place at the first non-ASCII character) and
writes its lines to stderr, which supervisord passes to its own stdout.
"""

import sys
from pathlib import Path
from typing import BinaryIO, TextIO

from shared.localrun import RUN_DIR, STARTRETRIES, STARTSECS

WIDTH = 13  # "notification" and a space


def tokens(line: str) -> dict[str, str]:
    """`processname:auth pid:12 ...` as a dict."""
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


class Prefixer:
    """Whole lines, each prefixed with its process's name; a partial line waits for its end."""

    def __init__(self) -> None:
        self.partial: dict[str, str] = {}

    def feed(self, name: str, data: str) -> list[str]:
        *lines, rest = (self.partial.pop(name, "") + data).split("\n")
        if rest:
            self.partial[name] = rest
        return [f"{name:<{WIDTH}}| {line}" for line in lines]


def state_line(event: str, fields: dict[str, str], run_dir: Path) -> str | None:
    """The line for a process that exited, backs off or was given up (else None)."""
    name = fields.get("processname", "?")
    if event == "PROCESS_STATE_EXITED":
        how = "unexpectedly" if fields.get("expected") == "0" else "with exit code 0"
        return f"{name} (pid {fields.get('pid')}) exited {how}: starting it again now"
    if event == "PROCESS_STATE_BACKOFF":
        tries = fields.get("tries", "?")
        return (
            f"{name} exited within {STARTSECS} s of starting (try {tries} of {STARTRETRIES}):"
            f" next try in {tries} s"
        )
    if event == "PROCESS_STATE_FATAL":
        group = fields.get("groupname", name)
        target = name if group == name else f"{group}:{name}"
        return (
            f"{name} given up after {STARTRETRIES} quick exits in a row; its log: "
            f"{run_dir / (name + '.log')}; to try again: .venv/bin/supervisorctl -c "
            f"{run_dir / 'supervisord.conf'} start {target}"
        )
    return None


def handle(event: str, payload: str, prefixer: Prefixer, run_dir: Path) -> list[str]:
    """The lines to print for one event."""
    if event.startswith("PROCESS_LOG"):
        head, _, data = payload.partition("\n")
        return prefixer.feed(tokens(head).get("processname", "?"), data)
    line = state_line(event, tokens(payload), run_dir)
    return [f"{'supervisord':<{WIDTH}}| {line}"] if line else []


def listen(stdin: BinaryIO, stdout: BinaryIO, out: TextIO, run_dir: Path) -> None:
    """Handle events until supervisord closes stdin."""
    prefixer = Prefixer()
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        header = stdin.readline()
        if not header:
            return
        fields = tokens(header.decode())
        payload = stdin.read(int(fields["len"])).decode("utf-8", errors="replace")
        for line in handle(fields.get("eventname", ""), payload, prefixer, run_dir):
            out.write(line + "\n")
        out.flush()
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    listen(
        sys.stdin.buffer,
        sys.stdout.buffer,
        sys.stderr,
        Path(sys.argv[1]) if len(sys.argv) > 1 else RUN_DIR,
    )
