"""The withdrawal check's DynamoDB adapters against moto, on tables built from template.yaml."""

from __future__ import annotations

import boto3
import pytest
from castle.adapters.dynamo_accounts import DynamoAccountDirectory
from castle.adapters.dynamo_withdrawals import DynamoWithdrawals
from castle.risk.fraud import DAY_MS, UNIT, KnownAddress, WithdrawalRequest
from castle.risk.withdrawals import OutcomeResult, WithdrawalStatus
from moto import mock_aws

from tests.tables import create_table_from_template

NOW = 1_767_225_600_000


@pytest.fixture
def dynamodb(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table_from_template(client, "WithdrawalsTable", "withdrawals")
        create_table_from_template(client, "AccountsTable", "accounts")
        yield boto3.resource("dynamodb")


@pytest.fixture
def withdrawals(dynamodb) -> DynamoWithdrawals:
    return DynamoWithdrawals("withdrawals", dynamodb)


@pytest.fixture
def accounts(dynamodb) -> DynamoAccountDirectory:
    return DynamoAccountDirectory("accounts", dynamodb)


def withdrawal(n: int, at: int, account: str = "acct-1", amount: int = UNIT // 10) -> WithdrawalRequest:
    return WithdrawalRequest(f"w-{n}", account, "BTC", amount, "bc1qhome", "BTC", at)


def test_a_new_withdrawal_is_pending_and_a_repeated_put_changes_nothing(withdrawals):
    assert withdrawals.put_pending(withdrawal(1, NOW)) is True
    assert withdrawals.put_pending(withdrawal(1, NOW, amount=5 * UNIT)) is False
    item = withdrawals.get("acct-1", "w-1")
    assert (item["PK"], item["SK"], item["Status"], item["Amount"]) == (
        "ACCOUNT#acct-1",
        "WITHDRAWAL#w-1",
        "PENDING_CHECK",
        UNIT // 10,
    )


def test_history_is_newest_first_within_the_window_and_for_one_account(withdrawals):
    for n, at in enumerate([NOW - 3 * DAY_MS, NOW - DAY_MS, NOW - 60_000, NOW + 1]):
        withdrawals.put_pending(withdrawal(n, at))
    withdrawals.put_pending(withdrawal(9, NOW, account="acct-2"))
    history = withdrawals.history("acct-1", since=NOW - 2 * DAY_MS, until=NOW, limit=10)
    assert [w.withdrawal_id for w in history] == ["w-2", "w-1"]
    assert history[0].amount == UNIT // 10 and not history[0].approved and not history[0].rejected


def test_history_honours_the_limit(withdrawals):
    for n in range(5):
        withdrawals.put_pending(withdrawal(n, NOW - n))
    assert [w.withdrawal_id for w in withdrawals.history("acct-1", 0, NOW, limit=2)] == ["w-0", "w-1"]


def test_history_marks_approved_and_rejected_withdrawals(withdrawals):
    for n in range(3):
        withdrawals.put_pending(withdrawal(n, NOW - n))
    withdrawals.record_outcome("acct-1", "w-0", WithdrawalStatus.APPROVED, [], 0, NOW)
    withdrawals.record_outcome("acct-1", "w-1", WithdrawalStatus.REJECTED, ["amount over limit"], 100, NOW)
    flags = [(w.approved, w.rejected) for w in withdrawals.history("acct-1", 0, NOW, 10)]
    assert flags == [(True, False), (False, True), (False, False)]


def test_recording_an_outcome_moves_pending_once_with_its_reasons(withdrawals):
    withdrawals.put_pending(withdrawal(1, NOW))
    record = withdrawals.record_outcome("acct-1", "w-1", WithdrawalStatus.UNDER_REVIEW, ["new address"], 30, NOW + 5)
    assert (record.result, record.status) == (OutcomeResult.RECORDED, "UNDER_REVIEW")
    item = withdrawals.get("acct-1", "w-1")
    assert (item["Status"], item["Reasons"], item["Score"], item["DecidedAt"]) == (
        "UNDER_REVIEW",
        ["new address"],
        30,
        NOW + 5,
    )


def test_a_retried_outcome_changes_nothing(withdrawals):
    withdrawals.put_pending(withdrawal(1, NOW))
    withdrawals.record_outcome("acct-1", "w-1", WithdrawalStatus.APPROVED, [], 0, NOW + 5)
    again = withdrawals.record_outcome("acct-1", "w-1", WithdrawalStatus.APPROVED, [], 0, NOW + 9)
    assert (again.result, again.status) == (OutcomeResult.UNCHANGED, "APPROVED")
    assert withdrawals.get("acct-1", "w-1")["DecidedAt"] == NOW + 5


def test_a_later_different_outcome_does_not_overwrite_the_first(withdrawals):
    withdrawals.put_pending(withdrawal(1, NOW))
    withdrawals.record_outcome("acct-1", "w-1", WithdrawalStatus.REJECTED, ["amount over limit"], 100, NOW)
    later = withdrawals.record_outcome("acct-1", "w-1", WithdrawalStatus.UNDER_REVIEW, ["risk check failed"], None, NOW)
    assert (later.result, later.status) == (OutcomeResult.SUPERSEDED, "REJECTED")
    assert withdrawals.get("acct-1", "w-1")["Reasons"] == ["amount over limit"]


def test_an_outcome_for_an_unknown_withdrawal_creates_nothing(withdrawals):
    record = withdrawals.record_outcome("acct-1", "w-404", WithdrawalStatus.APPROVED, [], 0, NOW)
    assert (record.result, record.status) == (OutcomeResult.NOT_FOUND, None)
    assert withdrawals.get("acct-1", "w-404") is None


def test_account_facts_are_the_profile_and_the_address_book(accounts):
    accounts.put_profile("acct-1", NOW - 30 * DAY_MS)
    accounts.add_address("acct-1", "BTC", "bc1qhome", NOW - 10 * DAY_MS)
    accounts.add_address("acct-1", "ETH", "0xabc", NOW - DAY_MS)
    accounts.table.put_item(Item={"PK": "ACCOUNT#acct-1", "SK": "APIKEY#k1", "Secret": "not read here"})
    facts = accounts.facts("acct-1")
    assert facts.created_at == NOW - 30 * DAY_MS and facts.history == ()
    assert sorted(facts.known_addresses, key=lambda a: a.network) == [
        KnownAddress("bc1qhome", "BTC", NOW - 10 * DAY_MS),
        KnownAddress("0xabc", "ETH", NOW - DAY_MS),
    ]


def test_adding_an_address_again_keeps_its_first_added_at(accounts):
    accounts.put_profile("acct-1", NOW - 30 * DAY_MS)
    accounts.add_address("acct-1", "BTC", "bc1qhome", NOW - 10 * DAY_MS)
    accounts.add_address("acct-1", "BTC", "bc1qhome", NOW)
    assert accounts.facts("acct-1").known_addresses == (KnownAddress("bc1qhome", "BTC", NOW - 10 * DAY_MS),)


def test_an_account_without_a_profile_has_no_facts(accounts):
    accounts.add_address("acct-ghost", "BTC", "bc1qhome", NOW)
    assert accounts.facts("acct-ghost") is None
