"""`make up`: the local cloud, in the foreground. Ctrl-C stops everything.

So far: a redis-server (ElastiCache's part; skipped when REDIS_URL is set) and
the matching engine, run with the container's own entry point. Later: the
emulated AWS data plane with the stack deployed into it, and the edge.

Each component prints one line with where to reach it. Children run in their
own sessions so that the terminal's Ctrl-C reaches only this launcher, which
then stops them in reverse order (engine first, so it finishes its batch
while Redis is still up).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".castle"


@dataclass
class Component:
    name: str
    proc: subprocess.Popen
    url: str
    log: Path | None = None


@dataclass
class LocalCloud:
    components: list[Component] = field(default_factory=list)

    def start(self, name: str, argv: list[str], url: str, env: dict | None = None, log: Path | None = None):
        out = open(log, "wb") if log else None  # one log per run; the child keeps the descriptor
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None, start_new_session=True
        )
        component = Component(name, proc, url, log)
        self.components.append(component)
        return component

    def stop(self, timeout_s: float = 10.0) -> None:
        for component in reversed(self.components):
            proc = component.proc
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.components.clear()

    def first_exit(self) -> Component | None:
        return next((c for c in self.components if c.proc.poll() is not None), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} after {timeout_s:.0f}s")


def start_redis(cloud: LocalCloud) -> str:
    url = os.environ.get("REDIS_URL")
    if url:
        print(f"redis     {url}  (REDIS_URL, not started here)", flush=True)
        return url
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not on PATH (apt-get install -y redis-server)")
    port = free_port()
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    component = cloud.start("redis", argv, f"redis://127.0.0.1:{port}/0", log=STATE / "redis.log")
    wait_for_port(port, component.proc)
    print(f"redis     {component.url}  (log {component.log.relative_to(ROOT)})", flush=True)
    return component.url


def start_engine(cloud: LocalCloud, redis_url: str) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "core"), str(ROOT)]),
    }
    argv = [sys.executable, "-m", "matching_container.engine"]
    symbols = env.get("CASTLE_SYMBOLS") or "all listed symbols"
    component = cloud.start("matching", argv, redis_url, env=env, log=STATE / "matching.log")
    time.sleep(0.3)
    if component.proc.poll() is not None:
        raise RuntimeError(f"matching engine exited at start (see {component.log})")
    print(
        f"matching  pid {component.proc.pid} on {redis_url}, streams castle:{{SYMBOL}}:cmd, "
        f"{symbols}  (log {component.log.relative_to(ROOT)})",
        flush=True,
    )


def main() -> int:
    STATE.mkdir(exist_ok=True)
    cloud = LocalCloud()
    stopping = False

    def request_stop(*_) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    status = 0
    try:
        redis_url = start_redis(cloud)
        start_engine(cloud, redis_url)
        print("castle is up; Ctrl-C stops it.", flush=True)
        while not stopping:
            dead = cloud.first_exit()
            if dead is not None:
                print(f"{dead.name} exited with status {dead.proc.returncode}; stopping.", file=sys.stderr)
                status = 1
                break
            time.sleep(0.2)
    except RuntimeError as e:
        print(f"make up: {e}", file=sys.stderr)
        status = 1
    finally:
        cloud.stop()
        print("castle stopped.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
