"""The launcher's restart policy: a crashed component comes back; a crash loop gives up."""

from __future__ import annotations

import os
import signal
import sys
import time

from local.processes import RestartPolicy, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def wait_for(check, timeout_s: float = 5.0):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_killed_component_is_restarted_and_logged(tmp_path):
    events = []
    supervisor = Supervisor(notify=lambda name, what: events.append((name, what)))
    try:
        c = supervisor.start("engine", SLEEPER, "", cwd=tmp_path, log=tmp_path / "engine.log",
                             restart=RestartPolicy(max_crashes=3))
        first = c.proc.pid
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: c.restarts == 1 and c.proc.poll() is None)

        assert c.proc.pid != first and c.status() == "ok" and supervisor.first_exit() is None
        assert "restarted as pid" in (tmp_path / "engine.log").read_text()
        assert events[0][0] == "engine" and "status -9" in events[0][1]
    finally:
        supervisor.stop()


def test_too_many_crashes_within_the_window_give_up(tmp_path):
    supervisor = Supervisor()
    try:
        c = supervisor.start("engine", [sys.executable, "-c", "raise SystemExit(3)"], "", cwd=tmp_path,
                             restart=RestartPolicy(max_crashes=2, window_s=60))
        wait_for(lambda: c.gave_up)

        assert c.restarts == 2 and c.status() == "down" and supervisor.first_exit() is c
    finally:
        supervisor.stop()


def test_a_component_without_a_policy_stays_down(tmp_path):
    supervisor = Supervisor()
    try:
        c = supervisor.start("edge", [sys.executable, "-c", "pass"], "", cwd=tmp_path)
        wait_for(lambda: c.proc.poll() is not None)
        time.sleep(0.3)
        assert c.restarts == 0 and supervisor.first_exit() is c
    finally:
        supervisor.stop()
