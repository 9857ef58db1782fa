"""`make up`'s launcher: the whole local cloud, one line per component, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.processes import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_up_prints_each_component_and_ctrl_c_stops_them_all():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["CASTLE_PORT"] = str(free_port())
    state = ROOT / ".castle" / f"up-{os.getpid()}"  # its own state and data, never a running make up's
    env["CASTLE_STATE"] = str(state)
    proc = subprocess.Popen([sys.executable, "-m", "local.up"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    deadline = time.monotonic() + 120  # a cold sam build on a busy 2-core machine
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "castle is up" in line or not line:
            break
    children = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                text=True).stdout.split()]
    proc.send_signal(signal.SIGINT)
    out = "".join(lines) + proc.communicate(timeout=20)[0]

    assert proc.returncode == 0, out
    announced = {line.split()[0]: line.split()[1] for line in lines if len(line.split()) > 1}
    assert announced["redis"].startswith("redis://127.0.0.1:"), out
    assert announced["matching"] == "pid", out
    assert announced["ministack"].startswith("http://127.0.0.1:"), out
    assert announced["edge"] == f"http://127.0.0.1:{env['CASTLE_PORT']}", out
    assert any(line.startswith("castle is up in ") for line in lines), out
    assert len(children) >= 4, out  # redis, ministack, matching, settlement (+ the market-data projector)
    assert not [pid for pid in children if alive(pid)]
    assert (state / "data" / "redis").is_dir() and (state / "data" / "ministack" / "CURRENT").is_file()
    assert not (state / "pids.json").exists()
    shutil.rmtree(state, ignore_errors=True)
