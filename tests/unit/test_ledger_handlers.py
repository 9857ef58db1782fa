"""functions/ledger_totals and ledger_audit through their event fixtures (moto for DynamoDB)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from castle.adapters.bootstrap import adapters
from tests.lambda_context import FakeLambdaContext
from tests.tables import moto_tables

EVENTS = Path(__file__).resolve().parents[2] / "events"
CONTEXT = FakeLambdaContext("LedgerFunction")
TABLE = "castle-balances"


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setenv("BALANCES_TABLE", TABLE)
    with moto_tables(monkeypatch, {"BalancesTable": TABLE}) as client:
        yield client


def load(module: str):
    return importlib.reload(importlib.import_module(f"functions.{module}.app"))


def event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def test_totals_count_an_inserted_entry(table):
    app = load("ledger_totals")
    assert app.lambda_handler(event("ledger_totals_entry_insert"), CONTEXT) == {"counted": 1, "repeated": 0}
    assert adapters().ledger_totals.totals() == {"USDT": 100 * 10**8}


def test_totals_ignore_a_redelivered_record(table):
    app = load("ledger_totals")
    app.lambda_handler(event("ledger_totals_entry_insert"), CONTEXT)
    assert app.lambda_handler(event("ledger_totals_entry_insert"), CONTEXT) == {"counted": 0, "repeated": 1}


def test_totals_ignore_records_that_are_not_new_entries(table):
    app = load("ledger_totals")
    record = event("ledger_totals_entry_insert")
    record["Records"][0]["eventName"] = "MODIFY"
    assert app.lambda_handler(record, CONTEXT) == {"counted": 0, "repeated": 0}


def test_fault_hook_fails_once_only_when_enabled(table, monkeypatch):
    monkeypatch.setenv("CASTLE_FAULTS", "on")
    app = load("ledger_totals")
    record = event("ledger_totals_entry_insert")
    record["Records"][0]["dynamodb"]["NewImage"]["PK"]["S"] = "ENTRY#fault-once:1"
    with pytest.raises(app.InjectedFault):
        app.lambda_handler(record, CONTEXT)
    assert app.lambda_handler(record, CONTEXT) == {"counted": 1, "repeated": 0}


def test_audit_of_a_balanced_ledger_is_recorded_as_balanced(table):
    totals_app = load("ledger_totals")
    from castle.adapters.dynamo_ledger import DynamoLedger
    from castle.ledger import fund

    DynamoLedger(table, TABLE).apply(fund("fund:example-1", "7", "USDT", 100 * 10**8, 1))
    totals_app.lambda_handler(event("ledger_totals_entry_insert"), CONTEXT)
    audit_app = load("ledger_audit")
    assert audit_app.lambda_handler(event("ledger_audit_schedule"), CONTEXT) == {"balanced": True, "assets": 1}
    assert adapters().ledger_totals.latest_audit()["balanced"] is True


def test_audit_flags_stream_totals_that_disagree_with_the_balances(table):
    from castle.adapters.dynamo_ledger import DynamoLedger
    from castle.ledger import fund

    DynamoLedger(table, TABLE).apply(fund("fund:example-1", "7", "USDT", 100, 1))
    load("ledger_totals").lambda_handler(event("ledger_totals_entry_insert"), CONTEXT)
    audit_app = load("ledger_audit")
    assert audit_app.lambda_handler(event("ledger_audit_schedule"), CONTEXT)["balanced"] is False
