"""castle.risk.fraud by example: for every rule, the boundary passes and one unit more is a signal.

The world: an account 30 days old with one BTC address in its book for 10
days, and three approved 0.1 BTC withdrawals to it. A 0.1 BTC withdrawal there
raises nothing; each test changes one thing.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from castle.risk.fraud import (
    DAY_MS,
    UNIT,
    AccountFacts,
    Decision,
    FraudPolicy,
    KnownAddress,
    PastWithdrawal,
    Signal,
    WithdrawalRequest,
    assess,
    decide,
    detect,
)

NOW = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOME = "bc1qhome"
BTC = "BTC"
TENTH = UNIT // 10

BASE_REQUEST = WithdrawalRequest("w-new", "acct-1", BTC, TENTH, HOME, BTC, NOW)


def past(n: int, amount: int = TENTH, at: int = NOW - 5 * DAY_MS, approved: bool = True, **fields) -> PastWithdrawal:
    base = {"asset": BTC, "address": HOME, "network": BTC, "rejected": False}
    return PastWithdrawal(f"w-{n}-{at}", amount=amount, requested_at=at, approved=approved, **(base | fields))


def facts(
    history: tuple[PastWithdrawal, ...] | None = None,
    created_at: int = NOW - 30 * DAY_MS,
    book: tuple[KnownAddress, ...] = (KnownAddress(HOME, BTC, NOW - 10 * DAY_MS),),
) -> AccountFacts:
    if history is None:
        history = tuple(past(i, at=NOW - (5 - i) * DAY_MS) for i in range(3))
    return AccountFacts(created_at=created_at, known_addresses=book, history=history)


def request(**changes) -> WithdrawalRequest:
    return replace(BASE_REQUEST, **changes)


def signals(req: WithdrawalRequest = BASE_REQUEST, account: AccountFacts | None = None) -> tuple[Signal, ...]:
    return detect(req, facts() if account is None else account, NOW)


def test_the_base_world_raises_nothing_and_is_approved():
    assessment = assess(BASE_REQUEST, facts(), NOW)
    assert (assessment.decision, assessment.signals, assessment.score) == (Decision.APPROVE, (), 0)
    assert assessment.to_dict() == {"decision": "APPROVE", "reasons": [], "score": 0}


# ---------------------------------------------------------------- velocity
def in_window(count: int, approved: bool = False, amount: int = TENTH) -> tuple[PastWithdrawal, ...]:
    """`count` pending withdrawals in the last hour: velocity sees them, the history rule does not."""
    return tuple(past(100 + i, amount=amount, at=NOW - 3_600_000, approved=approved) for i in range(count))


@pytest.mark.parametrize(("earlier", "flagged"), [(4, False), (5, True)])
def test_velocity_count_allows_five_withdrawals_in_24_hours_counting_this_one(earlier, flagged):
    account = facts(history=facts().history + in_window(earlier))
    assert (Signal.VELOCITY_COUNT in signals(account=account)) is flagged


@pytest.mark.parametrize(("at", "flagged"), [(NOW - DAY_MS, False), (NOW - DAY_MS + 1, True)])
def test_velocity_window_is_the_24_hours_up_to_now_exclusive_of_its_start(at, flagged):
    recent = tuple(past(200 + i, at=NOW - 60_000, approved=False) for i in range(4))
    account = facts(history=facts().history + recent + (past(300, at=at, approved=False),))
    assert (Signal.VELOCITY_COUNT in signals(account=account)) is flagged


def test_velocity_ignores_rejected_withdrawals():
    rejected = tuple(past(400 + i, at=NOW - 60_000, approved=False, rejected=True) for i in range(10))
    assert Signal.VELOCITY_COUNT not in signals(account=facts(history=facts().history + rejected))


@pytest.mark.parametrize(("extra", "flagged"), [(0, False), (1, True)])
def test_velocity_amount_allows_exactly_the_daily_limit(extra, flagged):
    # BTC: 5 BTC a day. 2 + 2 held in the last hour, and 1 now.
    account = facts(history=facts().history + in_window(2, amount=2 * UNIT))
    found = signals(request(amount=UNIT + extra), account)
    assert (Signal.VELOCITY_AMOUNT in found) is flagged


def test_velocity_amount_counts_only_the_same_asset():
    eth = tuple(past(500 + i, amount=40 * UNIT, at=NOW - 60_000, asset="ETH") for i in range(2))
    assert Signal.VELOCITY_AMOUNT not in signals(account=facts(history=facts().history + eth))


# ------------------------------------------------------------- new address
@pytest.mark.parametrize(("added_at", "flagged"), [(NOW - DAY_MS, False), (NOW - DAY_MS + 1, True)])
def test_an_address_book_entry_is_trusted_after_24_hours(added_at, flagged):
    account = facts(history=(), book=(KnownAddress("bc1qnew", BTC, added_at),))
    assert (Signal.NEW_ADDRESS in signals(request(address="bc1qnew"), account)) is flagged


def test_an_address_never_seen_is_new():
    assert Signal.NEW_ADDRESS in signals(request(address="bc1qstranger"))


def test_an_address_an_approved_withdrawal_used_is_not_new_even_outside_the_book():
    account = facts(book=())
    assert Signal.NEW_ADDRESS not in signals(account=account)


@pytest.mark.parametrize("kind", [{"approved": False}, {"approved": False, "rejected": True}])
def test_an_address_used_only_by_unapproved_withdrawals_is_still_new(kind):
    account = facts(history=(past(1, address="bc1qother", **kind),), book=())
    assert Signal.NEW_ADDRESS in signals(request(address="bc1qother"), account)


def test_the_same_address_on_another_network_is_new():
    assert Signal.NEW_ADDRESS in signals(request(network="BSC"))


# ------------------------------------------------------- amount vs history
@pytest.mark.parametrize(("extra", "flagged"), [(0, False), (1, True)])
def test_amount_may_be_ten_times_the_median_of_approved_withdrawals(extra, flagged):
    # median of 0.1, 0.1, 0.1 is 0.1 BTC: 1 BTC passes.
    assert (Signal.AMOUNT_ABOVE_HISTORY in signals(request(amount=UNIT + extra))) is flagged


@pytest.mark.parametrize(("extra", "flagged"), [(0, False), (1, True)])
def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(extra, flagged):
    amounts = (UNIT // 100, UNIT // 100, 3 * UNIT // 100, 3 * UNIT // 100)  # median 0.02 BTC
    account = facts(history=tuple(past(i, amount=a) for i, a in enumerate(amounts)))
    assert (Signal.AMOUNT_ABOVE_HISTORY in signals(request(amount=UNIT // 5 + extra), account)) is flagged


def test_amount_history_needs_three_approved_withdrawals_of_the_asset():
    history = (past(1), past(2), past(3, approved=False), past(4, asset="ETH"))
    assert Signal.AMOUNT_ABOVE_HISTORY not in signals(request(amount=2 * UNIT), facts(history=history))


# ------------------------------------------------------------- hard limits
@pytest.mark.parametrize(("extra", "decision"), [(0, Decision.APPROVE), (1, Decision.REJECT)])
def test_one_withdrawal_may_be_exactly_the_assets_single_limit(extra, decision):
    # No history to compare with, a trusted address and an old account: only the limit speaks.
    assessment = assess(request(amount=2 * UNIT + extra), facts(history=()), NOW)
    assert assessment.decision is decision
    assert (Signal.AMOUNT_OVER_LIMIT in assessment.signals) is bool(extra)


def test_an_asset_without_limits_is_held_for_review():
    assessment = assess(request(asset="DOGE"), facts(history=()), NOW)
    assert (assessment.decision, assessment.signals) == (Decision.REVIEW, (Signal.UNLISTED_ASSET,))


def test_an_unknown_account_is_rejected():
    assessment = assess(BASE_REQUEST, None, NOW)
    assert assessment.to_dict() == {"decision": "REJECT", "reasons": ["unknown account"], "score": 100}


# ------------------------------------------------------------- account age
@pytest.mark.parametrize(("created_at", "flagged"), [(NOW - 7 * DAY_MS, False), (NOW - 7 * DAY_MS + 1, True)])
def test_an_account_is_young_until_it_is_seven_days_old(created_at, flagged):
    assert (Signal.YOUNG_ACCOUNT in signals(account=facts(created_at=created_at))) is flagged


# ---------------------------------------------------------------- the past
def test_the_request_itself_and_anything_after_now_are_not_history():
    later = tuple(past(600 + i, at=NOW + 1, approved=False) for i in range(10))
    itself = replace(past(0, at=NOW, approved=False), withdrawal_id=BASE_REQUEST.withdrawal_id)
    account = facts(history=facts().history + later + (itself,) + in_window(4))
    assert signals(account=account) == ()


def test_a_policy_can_tighten_a_limit():
    strict = FraudPolicy(max_count_24h=1)
    assert detect(BASE_REQUEST, facts(history=in_window(1)), NOW, strict)[0] is Signal.VELOCITY_COUNT


# ----------------------------------------------------------------- scoring
@pytest.mark.parametrize(
    ("found", "decision"),
    [
        ((), Decision.APPROVE),
        ((Signal.NEW_ADDRESS,), Decision.APPROVE),
        ((Signal.YOUNG_ACCOUNT,), Decision.APPROVE),
        ((Signal.NEW_ADDRESS, Signal.YOUNG_ACCOUNT), Decision.REVIEW),
        ((Signal.VELOCITY_COUNT,), Decision.REVIEW),
        ((Signal.AMOUNT_ABOVE_HISTORY,), Decision.REVIEW),
        ((Signal.VELOCITY_AMOUNT, Signal.NEW_ADDRESS), Decision.REVIEW),
        ((Signal.VELOCITY_AMOUNT, Signal.AMOUNT_ABOVE_HISTORY), Decision.REJECT),
        ((Signal.NEW_ADDRESS, Signal.YOUNG_ACCOUNT, Signal.AMOUNT_ABOVE_HISTORY), Decision.REJECT),
        ((Signal.AMOUNT_OVER_LIMIT,), Decision.REJECT),
    ],
)
def test_scores_of_40_hold_for_review_and_scores_of_100_reject(found, decision):
    assert decide(found) is decision


def test_a_new_address_on_a_young_account_is_held_with_both_reasons():
    account = facts(history=(), created_at=NOW - DAY_MS, book=())
    assert assess(BASE_REQUEST, account, NOW).to_dict() == {
        "decision": "REVIEW",
        "reasons": ["new address", "young account"],
        "score": 60,
    }
