"""The matching engine process runs the compiled engine when it was built, pure Python otherwise, and logs which."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from castle.adapters.redis_streams import RedisCommandStream
from castle.codec import command_to_dict
from castle.orders import PlaceOrder, Side
from matching_container import engine_build

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "BTCUSDT"

pytestmark = pytest.mark.integration


def serve_one_order(redis_url: str, redis_client, **env: str) -> str:
    """Start `python -m matching_container.engine`, place one order through it, stop it; its log."""
    environ = {
        **os.environ,
        "REDIS_URL": redis_url,
        "CASTLE_SYMBOLS": SYMBOL,
        "CASTLE_BLOCK_MS": "100",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/core"), str(ROOT)]),
        **env,
    }
    proc = subprocess.Popen([sys.executable, "-m", "matching_container.engine"], env=environ, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        order = PlaceOrder(1, 7, Side.BUY, price=3_000_000, qty=100, ts=1_700_000_000_000)
        reply = RedisCommandStream(redis_client).call(SYMBOL, command_to_dict(order), timeout_s=10)
        assert reply is not None and [e["type"] for e in reply["events"]] == ["OrderAccepted"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out
    return out


def test_engine_process_runs_and_reports_the_compiled_engine_when_built(redis_url, redis_client):
    reason = engine_build.why_not(engine_build.DEFAULT_DIR, ROOT / "layers" / "core" / "castle")
    if reason is not None:
        if os.environ.get("CASTLE_REQUIRE_COMPILED") == "1":
            pytest.fail(f"the compiled engine is required here: {reason}")
        pytest.skip(reason)
    out = serve_one_order(redis_url, redis_client, CASTLE_COMPILED="")
    assert f'"message": "matching engine build: cython ({engine_build.DEFAULT_DIR})"' in out, out


def test_engine_process_runs_and_reports_pure_python_without_a_build(redis_url, redis_client, tmp_path):
    out = serve_one_order(redis_url, redis_client, CASTLE_COMPILED=str(tmp_path))
    assert f'"message": "matching engine build: python (no compiled engine in {tmp_path} (make engine))"' in out, out
