"""ElastiCache's part in the local cloud: a real redis-server on a free port."""

from __future__ import annotations

import shutil
from pathlib import Path

from local.processes import Component, LaunchError, Supervisor, free_port, wait_for_port


def start_redis(supervisor: Supervisor, cwd: Path, log: Path | None = None) -> Component:
    server = shutil.which("redis-server")
    if server is None:
        raise LaunchError("redis-server is not on PATH: install it (apt-get install -y redis-server) or set REDIS_URL")
    port = free_port()
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    component = supervisor.start("redis", argv, f"redis://127.0.0.1:{port}/0", cwd=cwd, log=log)
    wait_for_port(port, component.proc, "redis-server")
    return component
