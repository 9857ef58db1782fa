"""ElastiCache's part in the local cloud: a real redis-server on a free port, durable in its data folder.

The append-only file (`appendonly yes`, `appendfsync everysec`) lives in
`<data>/redis`. Redis write(2)s each event loop's commands to the file before
it sends their replies (a reply only waits when a previous fsync still runs
after 2 s, a disk stall), so a reply a client got is in the OS page cache: a
kill -9 of redis-server, or of the whole local cloud, loses nothing
acknowledged. Only a power loss or kernel crash can lose the last second (at
most two) that was not yet fsynced.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from local.processes import Component, LaunchError, Supervisor, remembered_port, wait_for_port


def start_redis(supervisor: Supervisor, cwd: Path, data: Path, log: Path | None = None) -> Component:
    server = shutil.which("redis-server")
    if server is None:
        raise LaunchError("redis-server is not on PATH: install it (apt-get install -y redis-server) or set REDIS_URL")
    data.mkdir(parents=True, exist_ok=True)
    port = remembered_port(data / "port")
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
    component = supervisor.start("redis", argv, f"redis://127.0.0.1:{port}/0", cwd=cwd, log=log)
    wait_for_port(port, component.proc, "redis-server")
    _wait_loaded(component, timeout_s=300)
    return component


def _wait_loaded(component: Component, timeout_s: float) -> None:
    """Listening is not ready: while it reads the AOF back, redis answers LOADING."""
    import redis

    client = redis.Redis.from_url(component.url, socket_timeout=2)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                client.ping()
                return
            except redis.BusyLoadingError:
                if component.proc.poll() is not None or time.monotonic() > deadline:
                    raise LaunchError(f"redis-server did not finish loading its AOF (see {component.log})") from None
                time.sleep(0.1)
    finally:
        client.close()


