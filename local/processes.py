"""Child processes of the local cloud: start, wait, stop, with no strays.

Children run in their own sessions, so the terminal's Ctrl-C reaches only the
launcher, which stops them in reverse order; each is stopped as a process
group, so what a child spawned (ministack's Lambda workers) goes with it.

A component started with a `RestartPolicy` is restarted when it dies, as
ECS restarts a task's essential container: the watcher notices within
0.1 s, appends a line to the component's log, and starts the same command
again; after `max_crashes` crashes within `window_s` it gives up, and the
component counts as exited (the launcher then stops, as before).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class LaunchError(RuntimeError):
    """A component could not start; the message is one line a user can act on."""


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    max_crashes: int = 5  # crashes within the window that are still restarted
    window_s: float = 60.0


@dataclass
class Component:
    name: str
    proc: subprocess.Popen
    url: str
    log: Path | None = None
    argv: list[str] = field(default_factory=list)
    cwd: Path | None = None
    env: dict | None = None
    restart: RestartPolicy | None = None  # None: an exit is final
    crashes: list[float] = field(default_factory=list)  # monotonic times, within the policy's window
    restarts: int = 0
    gave_up: bool = False

    @property
    def exited(self) -> bool:
        """Gone for good: exited, and not going to be restarted."""
        return self.proc.poll() is not None and (self.restart is None or self.gave_up)

    def status(self) -> str:
        if self.proc.poll() is None:
            return "ok"
        return "down" if self.restart is None or self.gave_up else "restarting"


@dataclass
class Supervisor:
    components: list[Component] = field(default_factory=list)
    notify: Callable[[str, str], None] | None = None  # (component, what happened): the launcher's output
    on_spawn: Callable[[str, int], None] | None = None  # (component, pid): the lifeline holds each new group
    _watcher: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(
        self, name: str, argv: list[str], url: str, *, cwd: Path, env: dict | None = None, log: Path | None = None,
        restart: RestartPolicy | None = None,
    ) -> Component:
        component = Component(name, _spawn(argv, cwd, env, log, "wb"), url, log, argv, cwd, env)
        self.components.append(component)
        self._spawned(component)
        if restart is not None:
            self.supervise(component, restart)
        return component

    def supervise(self, component: Component, restart: RestartPolicy) -> None:
        """From now on, restart `component` when it dies (as `restart` allows)."""
        component.restart = restart
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)
            self._watcher.start()

    def stop(self, timeout_s: float = 7.0) -> None:
        self._stopping.set()
        with self._lock:  # no restart races the stop
            if self._watcher is not None:
                self._watcher.join(timeout=1)
                self._watcher = None
            # In reverse order (redis last, so that nothing loses it mid-stop), within one deadline: the
            # whole stop stays within timeout_s, however slow one component is.
            deadline = time.monotonic() + timeout_s
            for component in reversed(self.components):
                stop_group(component.proc, max(0.0, deadline - time.monotonic()))
            self.components.clear()
            self._stopping.clear()  # the same supervisor can start the cloud again

    def first_exit(self) -> Component | None:
        return next((c for c in self.components if c.exited), None)

    def revive(self) -> None:
        """Restart every crashed component whose policy allows it (the watcher calls this every 0.1 s)."""
        with self._lock:
            for c in list(self.components):
                if c.restart is None or c.gave_up or self._stopping.is_set():
                    continue
                status = c.proc.poll()
                if status is None:
                    continue
                now = time.monotonic()
                c.crashes = [t for t in c.crashes if now - t < c.restart.window_s] + [now]
                if len(c.crashes) > c.restart.max_crashes:
                    c.gave_up = True
                    self._tell(c, f"exited with status {status}; {len(c.crashes)} crashes within "
                                  f"{c.restart.window_s:.0f}s: not restarting")
                    continue
                stop_group(c.proc, 1.0)  # whatever the dead leader left in its group
                c.proc = _spawn(c.argv, c.cwd, c.env, c.log, "ab")
                self._spawned(c)
                # Told before counted: whoever waits on `restarts` then finds the log line written.
                self._tell(c, f"exited with status {status}; restarted as pid {c.proc.pid} (restart {c.restarts + 1})")
                c.restarts += 1

    def _spawned(self, component: Component) -> None:
        if self.on_spawn is not None:
            self.on_spawn(component.name, component.proc.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(0.1):
            self.revive()

    def _tell(self, component: Component, message: str) -> None:
        if component.log is not None:
            with open(component.log, "a") as f:
                f.write(f"[launcher] {component.name} {message}\n")
        if self.notify is not None:
            self.notify(component.name, message)

    def get(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)


def _spawn(argv: list[str], cwd: Path | None, env: dict | None, log: Path | None, mode: str) -> subprocess.Popen:
    out = open(log, mode) if log else subprocess.DEVNULL  # noqa: SIM115 (the child keeps the descriptor)
    try:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log:
            out.close()


def stop_group(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
    # Whatever the leader left behind in its group goes too.
    _signal_group(proc, signal.SIGKILL)
    if proc.poll() is None:
        proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, proc: subprocess.Popen, name: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LaunchError(f"{name} exited at start with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise LaunchError(f"{name}: nothing listening on port {port} after {timeout_s:.0f}s")


def remembered_port(remembered: Path) -> int:
    """The last run's port when it is still free (the stack's URLs then stay the same), else a new one, remembered."""
    if remembered.exists():
        port = int(remembered.read_text())
        if port_is_free(port):
            return port
    port = free_port()
    remembered.write_text(str(port))
    return port

