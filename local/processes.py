"""Child processes of the local cloud: start, wait, stop, with no strays.

Children run in their own sessions, so the terminal's Ctrl-C reaches only the
launcher, which stops them in reverse order; each is stopped as a process
group, so what a child spawned (ministack's Lambda workers) goes with it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class LaunchError(RuntimeError):
    """A component could not start; the message is one line a user can act on."""


@dataclass
class Component:
    name: str
    proc: subprocess.Popen
    url: str
    log: Path | None = None


@dataclass
class Supervisor:
    components: list[Component] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], url: str, *, cwd: Path, env: dict | None = None, log: Path | None = None
    ) -> Component:
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (the child keeps the descriptor)
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if log:
                out.close()
        component = Component(name, proc, url, log)
        self.components.append(component)
        return component

    def stop(self, timeout_s: float = 10.0) -> None:
        for component in reversed(self.components):
            stop_group(component.proc, timeout_s)
        self.components.clear()

    def first_exit(self) -> Component | None:
        return next((c for c in self.components if c.proc.poll() is not None), None)

    def get(self, name: str) -> Component | None:
        return next((c for c in self.components if c.name == name), None)


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
