"""The lifeline: a launcher's children go when it dies by any signal; a later start finds leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from local.lifeline import AlreadyRunning, clear_leftovers, start_time

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

# A launcher in miniature: a lifeline, a supervisor, two children (one with a grandchild in its group).
LAUNCHER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from local.lifeline import Lifeline
    from local.processes import Supervisor
    lifeline = Lifeline(Path(sys.argv[1]))
    supervisor = Supervisor(on_spawn=lifeline.hold)
    supervisor.start("a", ["sleep", "300"], "", cwd=Path("."))
    supervisor.start("b", ["sh", "-c", "sleep 300 & sleep 300"], "", cwd=Path("."))
    print("ready", flush=True)
    time.sleep(300)
""")


def launch(tmp_path: Path) -> tuple[subprocess.Popen, dict]:
    pid_file = tmp_path / "pids.json"
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(pid_file)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline().strip() == "ready"
    return proc, json.loads(pid_file.read_text())


def members(pgids: set[int]) -> set[int]:
    """Live (not zombie) processes in these process groups."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z" and int(fields[2]) in pgids:
                found.add(int(entry.name))
    return found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV])
def test_every_child_and_grandchild_exits_within_5_s_of_the_launchers_death(tmp_path, sig):
    proc, record = launch(tmp_path)
    groups = {pgid for pgid, _ in record["groups"].values()}
    deadline = time.monotonic() + 10
    while len(members(groups)) < 4 and time.monotonic() < deadline:  # b's shell forks its sleeps
        time.sleep(0.02)
    assert len(members(groups)) == 4  # a, b's shell and its two sleeps
    proc.send_signal(sig)
    proc.wait()
    deadline = time.monotonic() + 5
    while members(groups) and time.monotonic() < deadline:
        time.sleep(0.05)
    watchdog = Path(f"/proc/{record['watchdog'][0]}/stat")
    assert members(groups) == set(), (record, watchdog.exists() and watchdog.read_text())


def test_a_start_refuses_beside_a_live_launcher_and_stops_the_leftovers_of_a_dead_one(tmp_path):
    proc, record = launch(tmp_path)
    pid_file = tmp_path / "pids.json"
    with pytest.raises(AlreadyRunning):
        clear_leftovers(pid_file)
    os.kill(record["watchdog"][0], signal.SIGKILL)  # launcher and lifeline both killed: the children stay
    proc.kill()
    proc.wait()
    groups = {pgid for pgid, _ in record["groups"].values()}
    time.sleep(0.3)
    assert members(groups)

    stopped = clear_leftovers(pid_file)

    assert set(stopped) == groups
    assert members(groups) == set()
    assert not pid_file.exists()


def test_a_recycled_pid_is_never_taken_for_a_leftover(tmp_path):
    pid_file = tmp_path / "pids.json"
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        wrong_start = start_time(stranger.pid) - 1
        pid_file.write_text(json.dumps({"launcher": [1, None], "watchdog": None,
                                        "groups": {"x": [stranger.pid, wrong_start]}}))
        assert clear_leftovers(pid_file) == []
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()
