"""DynamoLedger against moto: an entry applies whole, once, or not at all."""

from __future__ import annotations

import pytest
from castle.adapters.dynamo_ledger import DynamoLedger, DynamoLedgerTotals
from castle.errors import CastleError
from castle.ledger import fund, hold, release, withdraw
from tests.tables import moto_tables

TABLE = "castle-balances"


@pytest.fixture
def client(monkeypatch):
    with moto_tables(monkeypatch, {"BalancesTable": TABLE}) as c:
        yield c


@pytest.fixture
def ledger(client):
    return DynamoLedger(client, TABLE)


def test_funding_credits_the_account(ledger):
    assert ledger.apply(fund("f1", "7", "USDT", 100, 1))
    assert ledger.balances("7") == {"USDT": (100, 0)}


def test_the_same_entry_applies_once(ledger):
    entry = fund("f1", "7", "USDT", 100, 1)
    assert ledger.apply(entry)
    assert not ledger.apply(entry)
    assert ledger.balances("7") == {"USDT": (100, 0)}


def test_hold_beyond_free_balance_is_insufficient_and_changes_nothing(ledger):
    ledger.apply(fund("f1", "7", "USDT", 100, 1))
    with pytest.raises(CastleError) as info:
        ledger.apply(hold("h1", "7", "USDT", 101, 2))
    assert (info.value.code, info.value.msg) == (-2010, "Account has insufficient balance for requested action.")
    assert ledger.balances("7") == {"USDT": (100, 0)}
    assert not ledger.has_entry("h1")


def test_hold_and_release_move_between_buckets(ledger):
    ledger.apply(fund("f1", "7", "USDT", 100, 1))
    ledger.apply(hold("h1", "7", "USDT", 40, 2))
    assert ledger.balances("7") == {"USDT": (60, 40)}
    ledger.apply(release("r1", "7", "USDT", 40, 3))
    assert ledger.balances("7") == {"USDT": (100, 0)}


def test_withdrawing_from_an_account_that_never_had_the_asset_is_insufficient(ledger):
    with pytest.raises(CastleError):
        ledger.apply(withdraw("w1", "9", "BTC", 1, 1))


def test_all_balances_include_the_external_account(ledger):
    ledger.apply(fund("f1", "7", "USDT", 100, 1))
    assert ledger.all_balances() == {("7", "USDT"): 100, ("EXTERNAL", "USDT"): -100}


def test_totals_count_each_entry_once(client):
    totals = DynamoLedgerTotals(client, TABLE)
    entry = fund("f1", "7", "USDT", 100, 1)
    assert totals.add(entry)
    assert not totals.add(entry)
    assert totals.totals() == {"USDT": 100}


def test_a_fault_is_marked_only_once(client):
    totals = DynamoLedgerTotals(client, TABLE)
    assert totals.mark_fault("e1")
    assert not totals.mark_fault("e1")
