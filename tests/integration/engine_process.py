"""Running the matching container's entry point as the task does, for the tests that need the real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from castle.adapters.redis_streams import RedisCommandStream
from castle.codec import command_to_dict
from castle.orders import PlaceOrder, Side

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "BTCUSDT"


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
