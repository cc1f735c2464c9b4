"""Pidfiles: we stop the process we started, and never a stranger with a recycled pid."""

from __future__ import annotations

import signal
from pathlib import Path

from devtools.infra import procs


def test_stop_ends_the_process_the_pidfile_names(tmp_path: Path) -> None:
    pidfile = tmp_path / "sleep.pid.json"
    child = procs.spawn(
        ["sleep", "60"], pidfile=pidfile, log_path=tmp_path / "sleep.log", cwd=tmp_path
    )
    record = procs.running_record(pidfile)
    assert record is not None
    assert record.pid == child.pid

    assert procs.stop(pidfile, sig=signal.SIGTERM, grace_seconds=10) == "stopped"
    assert not procs.is_running(record)
    assert not pidfile.exists()


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "stubborn.pid.json"
    child = procs.spawn(
        ["sh", "-c", "trap '' TERM; echo ready; sleep 60"],
        pidfile=pidfile,
        log_path=tmp_path / "stubborn.log",
        cwd=tmp_path,
    )
    # The trap must be installed before SIGTERM arrives.
    while b"ready" not in (tmp_path / "stubborn.log").read_bytes():
        assert child.poll() is None
    record = procs.running_record(pidfile)
    assert record is not None
    assert procs.stop(pidfile, sig=signal.SIGTERM, grace_seconds=0.5) == "killed"
    assert not procs.is_running(record)


def test_a_recycled_pid_is_left_alone(tmp_path: Path) -> None:
    pidfile = tmp_path / "other.pid.json"
    stranger = procs.spawn(
        ["sleep", "60"],
        pidfile=tmp_path / "real.pid.json",
        log_path=tmp_path / "stranger.log",
        cwd=tmp_path,
    )
    ticks = procs.start_ticks(stranger.pid)
    assert ticks is not None
    # Same pid, another start time: the pidfile's process has gone and the pid was reused.
    pidfile.write_text(procs.ProcessRecord(stranger.pid, ticks + 1).to_json())
    try:
        assert procs.stop(pidfile, sig=signal.SIGTERM, grace_seconds=1) == "not running"
        assert stranger.poll() is None
        assert not pidfile.exists()
    finally:
        stranger.kill()
        stranger.wait(timeout=10)


def test_tail_reads_the_last_lines_and_names_a_missing_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    assert procs.tail(log, lines=2) == "line 98\nline 99"
    assert "no log" in procs.tail(tmp_path / "absent.log")
