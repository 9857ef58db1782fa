"""castle.risk.fraud's invariants (hypothesis): more risk never makes a decision safer.

Examples are derandomized (the project's CI profile), so runs are repeatable.
"""

from __future__ import annotations

from dataclasses import replace

from castle.risk.fraud import (
    DAY_MS,
    POINTS,
    SEVERITY,
    UNIT,
    AccountFacts,
    KnownAddress,
    PastWithdrawal,
    Signal,
    WithdrawalRequest,
    assess,
    decide,
)
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = 1_767_225_600_000
ADDRESSES = ["a1", "a2", "a3"]
NETWORKS = ["BTC", "ETH"]
ASSETS = ["BTC", "ETH", "DOGE"]

times = st.integers(NOW - 3 * DAY_MS, NOW)
amounts = st.integers(1, 3 * UNIT)

past_withdrawals = st.builds(
    PastWithdrawal,
    withdrawal_id=st.uuids().map(str),
    asset=st.sampled_from(ASSETS),
    amount=amounts,
    address=st.sampled_from(ADDRESSES),
    network=st.sampled_from(NETWORKS),
    requested_at=times,
    approved=st.booleans(),
    rejected=st.booleans(),
)
account_facts = st.builds(
    AccountFacts,
    created_at=st.integers(NOW - 30 * DAY_MS, NOW),
    known_addresses=st.lists(
        st.builds(KnownAddress, st.sampled_from(ADDRESSES), st.sampled_from(NETWORKS), times), max_size=4
    ).map(tuple),
    history=st.lists(past_withdrawals, max_size=12).map(tuple),
)
requests = st.builds(
    WithdrawalRequest,
    withdrawal_id=st.just("w-now"),
    account_id=st.just("acct"),
    asset=st.sampled_from(ASSETS),
    amount=amounts,
    address=st.sampled_from(ADDRESSES),
    network=st.sampled_from(NETWORKS),
    requested_at=st.just(NOW),
)


def severity(request: WithdrawalRequest, facts: AccountFacts | None) -> int:
    return SEVERITY[assess(request, facts, NOW).decision]


@given(st.sets(st.sampled_from(list(Signal))), st.sampled_from(list(Signal)))
def test_adding_a_signal_never_makes_the_decision_safer(found, extra):
    assert SEVERITY[decide(tuple(found | {extra}))] >= SEVERITY[decide(tuple(found))]


def test_no_signal_has_negative_points():
    assert all(points > 0 for points in POINTS.values()) and set(POINTS) == set(Signal)


@settings(max_examples=300)
@given(requests, account_facts, st.integers(1, 3 * UNIT))
def test_a_larger_amount_is_never_safer(request, facts, more):
    assert severity(replace(request, amount=request.amount + more), facts) >= severity(request, facts)


@settings(max_examples=300)
@given(requests, account_facts, st.integers(1, 30 * DAY_MS))
def test_a_younger_account_is_never_safer(request, facts, younger_by):
    younger = replace(facts, created_at=min(NOW, facts.created_at + younger_by))
    assert severity(request, younger) >= severity(request, facts)


@settings(max_examples=300)
@given(requests, account_facts, st.integers(1, DAY_MS))
def test_one_more_pending_withdrawal_in_the_last_day_is_never_safer(request, facts, ago):
    # Pending: counted by velocity, but not yet part of the approved history.
    extra = PastWithdrawal("w-extra", request.asset, 1, "a9", "BTC", NOW - ago + 1, approved=False)
    busier = replace(facts, history=(*facts.history, extra))
    assert severity(request, busier) >= severity(request, facts)


@settings(max_examples=300)
@given(requests, account_facts)
def test_forgetting_the_address_book_is_never_safer(request, facts):
    assert severity(request, replace(facts, known_addresses=())) >= severity(request, facts)


@given(requests, account_facts)
def test_an_unknown_account_is_never_safer_than_a_known_one(request, facts):
    assert severity(request, None) >= severity(request, facts)


@given(requests, account_facts)
def test_the_score_is_the_sum_of_the_reasons_points(request, facts):
    assessment = assess(request, facts, NOW)
    assert assessment.score == sum(POINTS[s] for s in assessment.signals)
    assert len(set(assessment.signals)) == len(assessment.signals)
