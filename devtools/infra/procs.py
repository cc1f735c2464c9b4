"""Processes we start ourselves, remembered by pidfile so we stop only those.

A pidfile holds the pid and the process's start time (field 22 of
/proc/<pid>/stat): a recycled pid that now belongs to someone else has another
start time, so we never signal a process we did not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# How often a stopping process is polled.
_POLL_SECONDS = 0.1

Child = subprocess.Popen[bytes]


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    start_ticks: int

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "start_ticks": self.start_ticks})


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces; everything after ')' is fixed.
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def is_running(record: ProcessRecord) -> bool:
    """True while the very process we started is alive (zombies count as gone)."""
    fields = _stat_fields(record.pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return int(fields[19]) == record.start_ticks


def read_pidfile(path: Path) -> ProcessRecord | None:
    try:
        data = json.loads(path.read_text())
        return ProcessRecord(pid=int(data["pid"]), start_ticks=int(data["start_ticks"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def running_record(pidfile: Path) -> ProcessRecord | None:
    """The live process a pidfile names, or None (a stale pidfile is removed)."""
    record = read_pidfile(pidfile)
    if record is None:
        return None
    if is_running(record):
        return record
    pidfile.unlink(missing_ok=True)
    return None


def spawn(
    argv: Sequence[str],
    *,
    pidfile: Path,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> Child:
    """Starts a long-lived server in its own session, output appended to log_path.

    Its own session keeps it alive after this command exits and out of reach of
    a Ctrl-C meant for the terminal.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            as_user(argv, user),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    ticks = start_ticks(child.pid)
    if ticks is not None:
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(ProcessRecord(child.pid, ticks).to_json())
    return child


def as_user(argv: Sequence[str], user: str | None) -> list[str]:
    """``argv``, run as ``user`` through setpriv (util-linux) when one is named.

    Not Popen's ``user=``: with it CPython must fork() rather than vfork(), and
    a fork() runs the atfork handlers of every library in the process; gRPC's
    crashed the child (SIGSEGV before exec) when a test process holding gRPC
    threads restarted PostgreSQL (the chaos suite). setpriv drops the
    privileges in the exec'd program instead, and keeps the pid.
    """
    if user is None:
        return list(argv)
    group = pwd.getpwnam(user).pw_gid
    return ["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", "--", *argv]


def _reap(pid: int) -> None:
    """Collects the exit status when the process is our own child."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pidfile: Path, *, sig: signal.Signals, grace_seconds: float) -> str:
    """Stops the process a pidfile names: ``sig``, then SIGKILL after the grace period.

    Returns what happened: "not running", "stopped" or "killed".
    """
    record = running_record(pidfile)
    if record is None:
        return "not running"
    try:
        os.kill(record.pid, sig)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        return "not running"
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not is_running(record):
            pidfile.unlink(missing_ok=True)
            return "stopped"
        time.sleep(_POLL_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGKILL)
    kill_deadline = time.monotonic() + 10.0
    while is_running(record) and time.monotonic() < kill_deadline:
        _reap(record.pid)
        time.sleep(_POLL_SECONDS)
    pidfile.unlink(missing_ok=True)
    return "killed"


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file (bounded read), or a note that it is missing."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
