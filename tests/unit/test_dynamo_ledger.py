"""DynamoLedger against moto: an entry applies whole, once, or not at all."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


class CountingClient:
    """The DynamoDB client, counting its TransactWriteItems calls."""

    def __init__(self, client) -> None:
        self.client = client
        self.transactions = 0

    def transact_write_items(self, **kwargs):
        self.transactions += 1
        return self.client.transact_write_items(**kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_totals_count_a_stream_batch_in_one_transaction(client):
    counting = CountingClient(client)
    totals = DynamoLedgerTotals(counting, TABLE)
    entries = [fund(f"f{i}", str(i), "USDT" if i % 2 else "BTC", 10 + i, i) for i in range(40)]
    assert totals.add_all(entries) == (40, 0)
    assert counting.transactions == 1
    assert totals.totals() == {"USDT": sum(10 + i for i in range(1, 40, 2)), "BTC": sum(10 + i for i in range(0, 40, 2))}


def test_a_batch_larger_than_one_transaction_is_split_and_counted_whole(client):
    counting = CountingClient(client)
    totals = DynamoLedgerTotals(counting, TABLE)
    entries = [fund(f"f{i}", "7", "USDT", 1, i) for i in range(250)]
    assert totals.add_all(entries) == (250, 0)
    assert counting.transactions == 3  # 99 markers + 1 asset update fill each of the first two
    assert totals.totals() == {"USDT": 250}


def test_a_batch_holding_a_redelivered_entry_counts_only_the_new_ones(client):
    totals = DynamoLedgerTotals(client, TABLE)
    assert totals.add(fund("f1", "7", "USDT", 100, 1))
    batch = [fund("f0", "7", "USDT", 5, 0), fund("f1", "7", "USDT", 100, 1), fund("f2", "7", "USDT", 7, 2)]
    assert totals.add_all(batch) == (2, 1)
    assert totals.totals() == {"USDT": 112}


def test_the_same_entry_twice_in_one_batch_counts_once(client):
    totals = DynamoLedgerTotals(client, TABLE)
    entry = fund("f1", "7", "USDT", 100, 1)
    assert totals.add_all([entry, entry]) == (1, 1)
    assert totals.totals() == {"USDT": 100}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.integers(0, 30), max_size=120), min_size=1, max_size=4))
def test_totals_equal_the_sum_of_distinct_entries_however_the_stream_redelivers(client, deliveries):
    """Property: batches of any size, with any entry delivered any number of times, count each entry once."""
    client.delete_item(TableName=TABLE, Key={"PK": {"S": "TOTALS"}, "SK": {"S": "ASSET#USDT"}})
    for key in {f"g{n}" for batch in deliveries for n in batch}:
        client.delete_item(TableName=TABLE, Key={"PK": {"S": "TOTALS"}, "SK": {"S": f"APPLIED#{key}"}})
    totals = DynamoLedgerTotals(client, TABLE)
    counted = 0
    for batch in deliveries:
        counted += totals.add_all([fund(f"g{n}", "7", "USDT", n + 1, n) for n in batch])[0]
    distinct = {n for batch in deliveries for n in batch}
    assert counted == len(distinct)
    assert totals.totals().get("USDT", 0) == sum(n + 1 for n in distinct)
