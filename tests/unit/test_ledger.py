"""The double-entry ledger: balanced entries, and the audit identity."""

from __future__ import annotations

import pytest
from castle.ledger import (
    EXTERNAL,
    AssetAudit,
    Bucket,
    EntryKind,
    LedgerEntry,
    Posting,
    UnbalancedEntry,
    audit,
    fund,
    hold,
    release,
    withdraw,
)
from hypothesis import given
from hypothesis import strategies as st


def test_funding_moves_money_from_external_to_the_account():
    entry = fund("f1", "7", "USDT", 100, ts=1)
    assert entry.changes() == {
        (EXTERNAL, "USDT"): {Bucket.FREE: -100, Bucket.LOCKED: 0},
        ("7", "USDT"): {Bucket.FREE: 100, Bucket.LOCKED: 0},
    }


def test_hold_moves_free_to_locked_within_the_account():
    assert hold("h1", "7", "BTC", 5, ts=1).changes() == {("7", "BTC"): {Bucket.FREE: -5, Bucket.LOCKED: 5}}


def test_an_unbalanced_entry_cannot_exist():
    with pytest.raises(UnbalancedEntry):
        LedgerEntry("x", EntryKind.TRADE, (Posting("7", "BTC", Bucket.FREE, 5),), ts=1)


def test_a_float_amount_cannot_exist():
    with pytest.raises(UnbalancedEntry):
        LedgerEntry(
            "x", EntryKind.TRADE,
            (Posting("7", "BTC", Bucket.FREE, 0.5), Posting("8", "BTC", Bucket.FREE, -0.5)), ts=1,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize("make", [fund, withdraw, hold, release])
@pytest.mark.parametrize("amount", [0, -1])
def test_non_positive_amounts_are_refused(make, amount):
    with pytest.raises(ValueError):
        make("x", "7", "USDT", amount, 1)


def test_entry_round_trips_through_its_dict():
    entry = fund("f1", "7", "USDT", 100, ts=1)
    assert LedgerEntry.from_dict(entry.to_dict()) == entry


def test_audit_balances_when_held_equals_funded_minus_withdrawn():
    balances = {("7", "USDT"): 60, ("8", "USDT"): 40, (EXTERNAL, "USDT"): -100}
    assert audit(balances, {"USDT": 100}) == [AssetAudit("USDT", 100, -100, 100)]
    assert audit(balances, {"USDT": 100})[0].balanced


def test_audit_flags_money_created_out_of_nothing():
    balances = {("7", "USDT"): 61, (EXTERNAL, "USDT"): -60}
    assert not audit(balances, {"USDT": 61})[0].balanced


def test_audit_flags_totals_that_disagree_with_the_scan():
    balances = {("7", "USDT"): 60, (EXTERNAL, "USDT"): -60}
    assert not audit(balances, {"USDT": 59})[0].balanced


@given(st.lists(st.tuples(st.sampled_from("FWHR"), st.integers(1, 10**12)), max_size=30))
def test_any_sequence_of_entries_keeps_every_asset_summing_to_zero(ops):
    totals: dict[tuple[str, str], int] = {}
    make = {"F": fund, "W": withdraw, "H": hold, "R": release}
    for i, (kind, amount) in enumerate(ops):
        for (account, asset), change in make[kind](f"e{i}", "7", "BTC", amount, i).changes().items():
            totals[(account, asset)] = totals.get((account, asset), 0) + sum(change.values())
    assert sum(totals.values()) == 0
