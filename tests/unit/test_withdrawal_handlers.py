"""functions/withdrawal_risk and functions/withdrawal_outcome, driven by the events/withdrawal_*.json fixtures.

The fixtures are the state machine's task inputs, the same files
`sam local invoke WithdrawalRiskFunction -e events/withdrawal_request.json`
takes. The handlers get in-memory fakes of their ports; the DynamoDB adapters
are tested against moto in test_dynamo_withdrawals.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from castle.adapters.withdrawal_settings import FAULT_ADDRESS, WithdrawalPorts, WithdrawalSettings
from castle.risk.fraud import DAY_MS, AccountFacts, KnownAddress, PastWithdrawal
from castle.risk.withdrawals import OutcomeRecord, OutcomeResult, WithdrawalStatus

from functions.withdrawal_outcome import app as outcome_app
from functions.withdrawal_risk import app as risk_app
from tests.lambda_context import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
CONTEXT = FakeLambdaContext("WithdrawalFunction", "5f1b7c3e-0000-4000-8000-000000000001")
NOW = 1_767_225_600_000  # the fixtures' requestedAt
HOME = "bc1qdemohome0000000000000000000000000000"


@dataclass
class InMemoryAccounts:
    accounts: dict[str, AccountFacts] = field(default_factory=dict)

    def facts(self, account_id: str) -> AccountFacts | None:
        return self.accounts.get(account_id)


@dataclass
class InMemoryWithdrawals:
    past: dict[str, list[PastWithdrawal]] = field(default_factory=dict)
    statuses: dict[tuple[str, str], str] = field(default_factory=dict)

    def history(self, account_id: str, since: int, until: int, limit: int) -> list[PastWithdrawal]:
        found = [w for w in self.past.get(account_id, []) if since <= w.requested_at <= until]
        return sorted(found, key=lambda w: -w.requested_at)[:limit]

    def record_outcome(
        self, account_id: str, withdrawal_id: str, status: WithdrawalStatus, reasons: Sequence[str], score, decided_at
    ) -> OutcomeRecord:
        current = self.statuses.get((account_id, withdrawal_id))
        if current is None:
            return OutcomeRecord(OutcomeResult.NOT_FOUND, None)
        if current != WithdrawalStatus.PENDING_CHECK:
            return OutcomeRecord(OutcomeResult.UNCHANGED if current == status else OutcomeResult.SUPERSEDED, current)
        self.statuses[(account_id, withdrawal_id)] = status.value
        return OutcomeRecord(OutcomeResult.RECORDED, status.value)


@pytest.fixture
def world(monkeypatch):
    """demo-1: 30 days old, HOME in its book for 10 days, three approved 0.1 BTC withdrawals."""
    accounts = InMemoryAccounts(
        {"demo-1": AccountFacts(NOW - 30 * DAY_MS, (KnownAddress(HOME, "BTC", NOW - 10 * DAY_MS),))}
    )
    past = [
        PastWithdrawal(f"w-old-{i}", "BTC", 10_000_000, HOME, "BTC", NOW - (i + 2) * DAY_MS, True) for i in range(3)
    ]
    withdrawals = InMemoryWithdrawals({"demo-1": past})
    ports = WithdrawalPorts(WithdrawalSettings("withdrawals", "accounts", faults=False), accounts, withdrawals)
    for module in (risk_app, outcome_app):
        monkeypatch.setattr(module, "ports", lambda ports=ports: ports)
    return ports


def with_faults(monkeypatch, world: WithdrawalPorts) -> None:
    on = WithdrawalPorts(WithdrawalSettings("withdrawals", "accounts", faults=True), world.accounts, world.withdrawals)
    monkeypatch.setattr(risk_app, "ports", lambda: on)


def event(name: str, **changes) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text()) | changes


def assess(body: dict) -> dict:
    return risk_app.lambda_handler(body, CONTEXT)


def record(body: dict) -> dict:
    return outcome_app.lambda_handler(body, CONTEXT)


# -------------------------------------------------------------------- risk
def test_a_usual_withdrawal_to_a_known_address_is_approved(world):
    assert assess(event("withdrawal_request")) == {"decision": "APPROVE", "reasons": [], "score": 0}


def test_a_large_withdrawal_to_a_new_address_is_held_with_its_reasons(world):
    result = assess(event("withdrawal_request", address="bc1qstranger", amount=150_000_000))
    assert result == {"decision": "REVIEW", "reasons": ["new address", "amount above history"], "score": 70}


def test_over_the_single_limit_is_rejected(world):
    result = assess(event("withdrawal_request", amount=200_000_001))
    assert result == {"decision": "REJECT", "reasons": ["amount above history", "amount over limit"], "score": 140}


def test_a_new_address_on_a_young_account_is_held_for_review(world):
    world.accounts.accounts["demo-2"] = AccountFacts(NOW - DAY_MS)
    result = assess(event("withdrawal_request", accountId="demo-2", address="bc1qstranger"))
    assert result == {"decision": "REVIEW", "reasons": ["new address", "young account"], "score": 60}


def test_an_unknown_account_is_rejected(world):
    result = assess(event("withdrawal_request", accountId="nobody"))
    assert result == {"decision": "REJECT", "reasons": ["unknown account"], "score": 100}


def test_an_amount_as_a_digit_string_is_read_as_units(world):
    assert assess(event("withdrawal_request", amount="10000000"))["decision"] == "APPROVE"


def test_an_unreadable_request_is_invalid_not_an_exception(world):
    result = assess(event("withdrawal_request_invalid"))
    assert result == {"decision": "INVALID", "reasons": ["invalid request: amount"], "score": None}


def test_the_fault_hook_is_off_unless_configured(world):
    # Off, the sentinel is only an address never seen before.
    result = assess(event("withdrawal_request_fault"))
    assert result == {"decision": "APPROVE", "reasons": ["new address"], "score": 30}


def test_with_faults_on_the_sentinel_address_makes_the_risk_check_raise(world, monkeypatch):
    with_faults(monkeypatch, world)
    assert event("withdrawal_request_fault")["address"] == FAULT_ADDRESS
    with pytest.raises(risk_app.InjectedFault):
        assess(event("withdrawal_request_fault"))
    assert assess(event("withdrawal_request"))["decision"] == "APPROVE"


def test_the_fault_hook_reads_castle_faults_on_only():
    base = {"WITHDRAWALS_TABLE": "w", "ACCOUNTS_TABLE": "a"}
    assert WithdrawalSettings.from_env(base).faults is False
    assert WithdrawalSettings.from_env(base | {"CASTLE_FAULTS": "off"}).faults is False
    assert WithdrawalSettings.from_env(base | {"CASTLE_FAULTS": "on"}).faults is True


# ----------------------------------------------------------------- outcome
def test_an_outcome_moves_a_pending_withdrawal_once(world):
    world.withdrawals.statuses[("demo-1", "w-20260101-0001")] = "PENDING_CHECK"
    assert record(event("withdrawal_outcome_approved")) == {"result": "RECORDED", "status": "APPROVED"}
    assert record(event("withdrawal_outcome_approved")) == {"result": "UNCHANGED", "status": "APPROVED"}


def test_the_risk_check_failed_fallback_does_not_overwrite_a_decision(world):
    world.withdrawals.statuses[("demo-1", "w-20260101-0002")] = "REJECTED"
    assert record(event("withdrawal_outcome_risk_check_failed")) == {"result": "SUPERSEDED", "status": "REJECTED"}


def test_an_outcome_for_an_unknown_withdrawal_is_not_found(world):
    assert record(event("withdrawal_outcome_approved")) == {"result": "NOT_FOUND", "status": None}


@pytest.mark.parametrize("status", ["PENDING_CHECK", "approved", ""])
def test_an_outcome_with_a_status_the_check_never_records_is_invalid(world, status):
    assert record(event("withdrawal_outcome_approved", status=status)) == {"result": "INVALID", "status": None}
