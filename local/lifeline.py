"""No stray processes: the local cloud's children go when its launcher goes, by any signal.

Signal handlers cannot see a SIGKILL (an OOM kill, a CI timeout, `kill -9`),
and every child runs in its own session, so nothing else would stop them.
Two mechanisms close that gap:

- **The lifeline.** At start the launcher spawns a watchdog (`python -m
  local.lifeline`, in its own session) whose stdin is the read end of a pipe
  that only the launcher holds open. The launcher writes each child's process
  group to it as it spawns one. When the launcher dies, however it dies, the
  kernel closes the write end; the watchdog reads EOF, sends SIGTERM to every
  group, and SIGKILL after `GRACE_S` to any that are left: all gone within
  5 s. After a clean stop the groups are already gone and it simply exits.
- **The pid file** (`<state>/pids.json`): every process group of the run, with
  its start time (so a recycled pid is never mistaken for ours), and the
  launcher's own pid. The next `make up` reads it: a live launcher means
  another `make up` holds this folder (refused, with its pid); otherwise the
  groups still alive are leftovers of a run whose launcher and watchdog were
  both killed, and they are stopped before anything starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_S = 3.0  # SIGTERM, then SIGKILL: within the 5 s a dead launcher's children have


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22); None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] == "Z" else int(fields[19])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_groups(groups: list[tuple[int, int]], grace_s: float = GRACE_S) -> list[int]:
    """SIGTERM every (pgid, start time) group whose leader is still that process, SIGKILL after grace_s."""
    ours = [pgid for pgid, started in groups if start_time(pgid) == started]
    for pgid in ours:
        _killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(group_alive(p) for p in ours):
        time.sleep(0.05)
    for pgid in ours:
        _killpg(pgid, signal.SIGKILL)  # the leader's group, whatever it left behind (Lambda workers)
    return ours


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Lifeline:
    """The launcher's side: the watchdog and the pid file."""

    def __init__(self, pid_file: Path) -> None:
        self.pid_file = pid_file
        self.groups: dict[str, tuple[int, int]] = {}
        read, self._write = os.pipe()
        self.watchdog = subprocess.Popen(
            [sys.executable, "-m", "local.lifeline"], stdin=read, cwd=Path(__file__).resolve().parents[1],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(read)
        self._save()

    def hold(self, name: str, pid: int) -> None:
        """A child's group, from now on stopped when the launcher dies."""
        started = start_time(pid) or 0
        self.groups[name] = (pid, started)
        try:
            os.write(self._write, f"{pid} {started}\n".encode())
        except OSError:
            pass
        self._save()

    def _save(self) -> None:
        record = {"launcher": [os.getpid(), start_time(os.getpid())],
                  "watchdog": [self.watchdog.pid, start_time(self.watchdog.pid)], "groups": self.groups}
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, self.pid_file)

    def close(self) -> None:
        """After a clean stop: the watchdog finds nothing left and exits; the pid file goes."""
        os.close(self._write)
        try:
            self.watchdog.wait(timeout=GRACE_S + 2)
        except subprocess.TimeoutExpired:
            self.watchdog.kill()
        self.pid_file.unlink(missing_ok=True)


class AlreadyRunning(RuntimeError):
    pass


def clear_leftovers(pid_file: Path) -> list[int]:
    """Stop the leftovers of an earlier run in this state folder; AlreadyRunning if its launcher lives."""
    if not pid_file.exists():
        return []
    try:
        record = json.loads(pid_file.read_text())
    except ValueError:
        pid_file.unlink()
        return []
    launcher, launcher_start = record.get("launcher", [0, None])
    if launcher != os.getpid() and launcher_start is not None and start_time(launcher) == launcher_start:
        raise AlreadyRunning(launcher)
    groups = [tuple(g) for g in record.get("groups", {}).values()]
    watchdog = record.get("watchdog")
    if watchdog:
        groups.append(tuple(watchdog))
    stopped = stop_groups(groups)
    pid_file.unlink()
    return stopped


def watch() -> None:
    """The watchdog: read groups until EOF (the launcher is gone), then stop them all."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups = []
    for line in sys.stdin:
        pgid, started = line.split()
        groups.append((int(pgid), int(started)))
    stop_groups(groups)


if __name__ == "__main__":
    watch()
