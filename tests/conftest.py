"""Shared fixtures: a real redis-server for adapter and engine tests.

The server is started once per session on a free port (never the system's
6379) unless REDIS_URL points at one already.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

# `CASTLE_TEST_ENGINE=cython` runs the tests on the compiled engine (`make pytest` does, for the
# engine's tests). The build is chosen here, before any test module imports castle.
if os.environ.get("CASTLE_TEST_ENGINE") == "cython":
    from matching_container.engine_build import COMPILED, describe, use_compiled

    if use_compiled() != COMPILED:
        raise pytest.UsageError(f"CASTLE_TEST_ENGINE=cython, but this run has {describe()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_redis(url: str, timeout_s: float = 10.0) -> None:
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            client.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not on PATH (make test installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for_redis(url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def redis_client(redis_url):
    """A client on a clean database: each test starts from an empty Redis."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(autouse=True)
def aws_region(monkeypatch):
    """Lambda always has a region; tests get the same, whatever the shell exports."""
    if not os.environ.get("AWS_DEFAULT_REGION") and not os.environ.get("AWS_REGION"):
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(autouse=True)
def fresh_adapters() -> Iterator[None]:
    """Each test's environment is its own: the composition root is rebuilt for it, never carried over."""
    _clear_adapters()
    yield
    _clear_adapters()


def _clear_adapters() -> None:
    bootstrap = sys.modules.get("castle.adapters.bootstrap")
    if bootstrap is not None:
        bootstrap.adapters.cache_clear()

