"""What goes wrong at launch gets one clear line, never a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from local import ministack
from local.processes import LaunchError, Supervisor, free_port
from local.stack import deploy

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
STATE = ROOT / ".castle" / f"launch-failures-{os.getpid()}"


@pytest.fixture(autouse=True, scope="module")
def _own_state():
    yield
    shutil.rmtree(STATE, ignore_errors=True)


def run_up(env_changes: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["CASTLE_STATE"] = str(STATE)  # never a running make up's
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "-m", "local.up"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )


def test_edge_port_in_use_is_one_clear_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_up({"CASTLE_PORT": str(port)})
    assert result.returncode == 1
    assert f"make up: port {port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_redis_server_is_one_clear_line(tmp_path):
    result = run_up({"CASTLE_PORT": str(free_port()), "PATH": str(tmp_path)})
    assert result.returncode == 1
    assert "make up: redis-server is not on PATH" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_python312_is_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(ministack, "find_python312", lambda: None)
    with pytest.raises(LaunchError) as info:
        ministack.ensure_venv(tmp_path / "venv")
    assert str(info.value).startswith("Python 3.12 not found")


def test_failed_deploy_names_the_cause(tmp_path):
    python = ministack.ensure_venv(ROOT / ".venv-ministack")
    supervisor = Supervisor()
    try:
        ms = ministack.start_ministack(supervisor, python, ROOT, tmp_path / "tmp", tmp_path / "data",
                                       log=tmp_path / "ministack.log")
        with pytest.raises(LaunchError) as info:
            deploy(ROOT, ms.url, {"MatchingDesiredCount": "7"}, log=tmp_path / "deploy.log")
    finally:
        supervisor.stop()
    message = str(info.value)
    assert message.startswith("sam deploy failed:")
    assert "MatchingDesiredCount" in message


def test_unreachable_emulator_is_one_clear_message(tmp_path):
    with pytest.raises(LaunchError) as info:
        deploy(ROOT, f"http://127.0.0.1:{free_port()}", {}, log=tmp_path / "deploy.log")
    assert "cannot reach the AWS emulator" in str(info.value)
