"""The balances table's stream and the scheduled audit, on the deployed stack."""

from __future__ import annotations

import time
import uuid

from castle.adapters.dynamo_ledger import DynamoLedger, DynamoLedgerTotals
from castle.ledger import fund, hold

from tests.e2e.conftest import eventually

UNIT = 10**8


def adapters(local_cloud):
    client = local_cloud.client("dynamodb")
    table = local_cloud.outputs["BalancesTableName"]
    return DynamoLedger(client, table), DynamoLedgerTotals(client, table)


def test_ledger_entry_reaches_the_totals_function_through_the_stream(local_cloud):
    ledger, totals = adapters(local_cloud)
    asset = f"T{uuid.uuid4().hex[:6].upper()}"
    assert ledger.apply(fund(f"fund:{uuid.uuid4()}", "1001", asset, 5 * UNIT, 1))
    assert eventually(lambda: totals.totals().get(asset) == 5 * UNIT)


def test_internal_move_leaves_the_totals_unchanged(local_cloud):
    ledger, totals = adapters(local_cloud)
    asset = f"T{uuid.uuid4().hex[:6].upper()}"
    ledger.apply(fund(f"fund:{uuid.uuid4()}", "1002", asset, 3 * UNIT, 1))
    ledger.apply(hold(f"hold:{uuid.uuid4()}", "1002", asset, UNIT, 2))
    eventually(lambda: totals.totals().get(asset) == 3 * UNIT)
    time.sleep(1.0)
    assert totals.totals()[asset] == 3 * UNIT
    assert ledger.balances("1002")[asset] == (2 * UNIT, UNIT)


def test_stream_record_that_fails_once_is_retried_and_counted_once(local_cloud):
    ledger, totals = adapters(local_cloud)
    asset = f"T{uuid.uuid4().hex[:6].upper()}"
    entry_id = f"fault-once:{uuid.uuid4()}"
    ledger.apply(fund(entry_id, "1003", asset, 7 * UNIT, 1))
    # The first delivery fails (its marker proves it ran); the retry counts the entry.
    assert eventually(lambda: totals.totals().get(asset) == 7 * UNIT, timeout_s=30)
    assert not totals.mark_fault(entry_id), "the injected failure never happened"
    time.sleep(1.5)  # a second count would show up here
    assert totals.totals()[asset] == 7 * UNIT


def test_applying_the_same_entry_twice_changes_nothing(local_cloud):
    ledger, _ = adapters(local_cloud)
    asset = f"T{uuid.uuid4().hex[:6].upper()}"
    entry = fund(f"fund:{uuid.uuid4()}", "1004", asset, UNIT, 1)
    assert ledger.apply(entry)
    assert not ledger.apply(entry)
    assert ledger.balances("1004")[asset] == (UNIT, 0)


def test_schedule_fires_the_ledger_audit_and_the_ledger_balances(local_cloud):
    ledger, totals = adapters(local_cloud)
    ledger.apply(fund(f"fund:{uuid.uuid4()}", "1005", "USDT", 100 * UNIT, 1))
    eventually(lambda: totals.totals().get("USDT", 0) >= 100 * UNIT)
    started = time.time() * 1000
    # EventBridge's shortest rate is one minute (here and on AWS); the stack was deployed
    # at session start, so the wait is what is left of that minute plus the scheduler's tick.
    remaining = max(0.0, local_cloud.deployed_at + 85 - time.monotonic())
    report = eventually(lambda: (r := totals.latest_audit()) and r["ts"] >= started and r, timeout_s=remaining + 70)
    assert report["balanced"], report
