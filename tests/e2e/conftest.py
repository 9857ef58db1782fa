"""The local cloud, once per session: template.yaml deployed into ministack by sam.

The same launcher as `make up` (local.cloud.LocalCloud), in its own state
folder, on free ports, so it never clashes with a `make up` that is running.
End-to-end tests talk to it over real HTTP and WebSocket, and to the stack's
resources through boto3 pointed at the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from local.cloud import CloudInfo, LocalCloud
from local.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Cloud:
    info: CloudInfo
    deployed_at: float  # time.monotonic() when the stack was deployed
    session: boto3.Session = field(
        default_factory=lambda: boto3.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        )
    )

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.info.endpoint)

    @property
    def outputs(self) -> dict[str, str]:
        return self.info.stack.outputs

    @property
    def rest_url(self) -> str:
        return self.info.stack.rest_url

    @property
    def ws_url(self) -> str | None:
        return self.info.gateway_url

    @property
    def edge_url(self) -> str | None:
        return self.info.edge_url

    @property
    def redis_url(self) -> str:
        return self.info.redis_url


@pytest.fixture(scope="session")
def local_cloud(request) -> Iterator[Cloud]:
    # Its own state folder (and sam build folder) per run: concurrent runs never share one.
    state = ROOT / ".castle" / f"e2e-{os.getpid()}"
    cloud = LocalCloud(root=ROOT, state=state, edge_port=free_port())
    cloud.announce = lambda name, detail: None  # quiet under pytest
    failed_before = request.session.testsfailed
    try:
        info = cloud.start()
        yield Cloud(info, deployed_at=time.monotonic())
    finally:
        cloud.stop()
        if request.session.testsfailed > failed_before:  # the components' logs, for whoever reads the failure
            shutil.rmtree(state / "build", ignore_errors=True)
            print(f"\nlocal cloud logs kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


def eventually(check: Callable[[], object], timeout_s: float = 20.0, interval_s: float = 0.2):
    """Poll until `check()` returns something truthy; its last value, or an AssertionError."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met after {timeout_s:.0f}s (last value {value!r})")
        time.sleep(interval_s)


CASTLE = str(Path(sys.executable).parent / "castle")


def castle(cloud: Cloud, *args: str) -> dict:
    """Run the `castle` CLI against the cloud's edge with its admin token; its JSON answer."""
    out = subprocess.run(
        [CASTLE, *args, "--url", cloud.edge_url, f"--token={cloud.info.admin_token}"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def buyer(local_cloud) -> dict:
    """A module's account with quote to spend (BTCUSDT buys)."""
    return castle(local_cloud, "account", "create", "--fund", "USDT=1000000")


@pytest.fixture(scope="module")
def seller(local_cloud) -> dict:
    """A module's account with base to sell."""
    return castle(local_cloud, "account", "create", "--fund", "BTC=50")
