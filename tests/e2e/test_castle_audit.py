"""`castle audit` against the local cloud: the admin route runs the ledger audit now, the CLI prints it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import eventually

CASTLE = str(Path(sys.executable).parent / "castle")


def castle(cloud, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CASTLE, *args, "--url", cloud.edge_url, f"--token={cloud.info.admin_token}"],
                          capture_output=True, text=True, timeout=60)


def test_castle_audit_prints_each_asset_balanced_after_funding(local_cloud):
    created = castle(local_cloud, "account", "create", "--fund", "USDT=1234.5", "--fund", "ETH=2")
    assert created.returncode == 0, created.stderr

    def balanced() -> dict | None:  # the running totals follow the balances table's stream
        out = castle(local_cloud, "audit")
        return json.loads(out.stdout) if out.returncode == 0 else None

    report = eventually(balanced, timeout_s=60, interval_s=1)
    assets = {a["asset"]: a for a in report["assets"]}
    assert {"USDT", "ETH"} <= set(assets) and all(a["balanced"] for a in assets.values())
    assert assets["ETH"]["held"] == -assets["ETH"]["external"] == assets["ETH"]["totalsHeld"]


def test_castle_audit_without_the_admin_token_fails():
    out = subprocess.run([CASTLE, "audit", "--url", "http://127.0.0.1:9", "--token=x"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1 and json.loads(out.stderr)["code"] == -1001
