"""Withdrawal fraud check: four kinds of risk signal, scored into one decision.

The rule, on one screen:

    signal                 when                                                   points
    VELOCITY_COUNT         more than `max_count_24h` withdrawals (any asset,          40
                           rejected ones aside) in the 24 h up to `now`, this one
                           included: the window is (now - 24 h, now]
    VELOCITY_AMOUNT        this asset's total over the same 24 h, this one            60
                           included, above the asset's `max_daily`
    NEW_ADDRESS            the address was never used by an approved withdrawal       30
                           and is not in the address book for 24 h or more
    AMOUNT_ABOVE_HISTORY   with at least `min_history` approved withdrawals of        40
                           the asset, the amount is above `history_multiple` x
                           their median
    AMOUNT_OVER_LIMIT      the amount alone is above the asset's `max_single`        100
    UNLISTED_ASSET         the policy has no limits for the asset                     40
    YOUNG_ACCOUNT          the account is younger than `min_account_age_ms`           30
    UNKNOWN_ACCOUNT        the account has no facts at all                           100

    score = the sum of the signals' points
    REJECT if score >= 100, REVIEW if score >= 40, else APPROVE

Points are never negative, so adding a signal never makes a decision safer
(tests/unit/test_fraud_properties.py checks it). One weak signal alone (a new
address, a young account) passes; two together hold the withdrawal for review.
Each boundary is inclusive on the safe side: exactly the limit passes, one
unit more is a signal (the tables in tests/unit/test_fraud_rules.py).

Amounts are integers of the asset's smallest unit (8 decimals), times are
milliseconds since the epoch, and `now` is passed in: the check is pure and
replays identically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

DAY_MS = 24 * 60 * 60 * 1000
UNIT = 10**8  # one whole coin in the smallest unit


class Decision(StrEnum):
    APPROVE = "APPROVE"
    REVIEW = "REVIEW"
    REJECT = "REJECT"


# Severity order, so that "never safer" is a comparison.
SEVERITY = {Decision.APPROVE: 0, Decision.REVIEW: 1, Decision.REJECT: 2}


class Signal(StrEnum):
    """Each value is the stable reason text recorded on the withdrawal."""

    VELOCITY_COUNT = "velocity: too many withdrawals in 24 h"
    VELOCITY_AMOUNT = "velocity: daily amount over limit"
    NEW_ADDRESS = "new address"
    AMOUNT_ABOVE_HISTORY = "amount above history"
    AMOUNT_OVER_LIMIT = "amount over limit"
    UNLISTED_ASSET = "no limits for asset"
    YOUNG_ACCOUNT = "young account"
    UNKNOWN_ACCOUNT = "unknown account"


POINTS: Mapping[Signal, int] = {
    Signal.VELOCITY_COUNT: 40,
    Signal.VELOCITY_AMOUNT: 60,
    Signal.NEW_ADDRESS: 30,
    Signal.AMOUNT_ABOVE_HISTORY: 40,
    Signal.AMOUNT_OVER_LIMIT: 100,
    Signal.UNLISTED_ASSET: 40,
    Signal.YOUNG_ACCOUNT: 30,
    Signal.UNKNOWN_ACCOUNT: 100,
}
REVIEW_AT = 40
REJECT_AT = 100


@dataclass(frozen=True, slots=True)
class AssetLimits:
    max_single: int  # one withdrawal, in units
    max_daily: int  # the sum over 24 h, in units


DEFAULT_LIMITS: Mapping[str, AssetLimits] = {
    "BTC": AssetLimits(max_single=2 * UNIT, max_daily=5 * UNIT),
    "ETH": AssetLimits(max_single=50 * UNIT, max_daily=100 * UNIT),
    "BNB": AssetLimits(max_single=200 * UNIT, max_daily=500 * UNIT),
    "USDT": AssetLimits(max_single=100_000 * UNIT, max_daily=250_000 * UNIT),
}


@dataclass(frozen=True, slots=True)
class FraudPolicy:
    max_count_24h: int = 5
    min_history: int = 3
    history_multiple: int = 10
    min_account_age_ms: int = 7 * DAY_MS
    address_cooling_ms: int = DAY_MS
    limits: Mapping[str, AssetLimits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))


DEFAULT_POLICY = FraudPolicy()


@dataclass(frozen=True, slots=True)
class WithdrawalRequest:
    withdrawal_id: str
    account_id: str
    asset: str
    amount: int
    address: str
    network: str
    requested_at: int


@dataclass(frozen=True, slots=True)
class PastWithdrawal:
    """An earlier withdrawal of the account. `approved` means its funds left (or will)."""

    withdrawal_id: str
    asset: str
    amount: int
    address: str
    network: str
    requested_at: int
    approved: bool
    rejected: bool = False


@dataclass(frozen=True, slots=True)
class KnownAddress:
    """An address-book entry: trusted once it has been there `address_cooling_ms`."""

    address: str
    network: str
    added_at: int


@dataclass(frozen=True, slots=True)
class AccountFacts:
    created_at: int
    known_addresses: tuple[KnownAddress, ...] = ()
    history: tuple[PastWithdrawal, ...] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    decision: Decision
    signals: tuple[Signal, ...]
    score: int

    def to_dict(self) -> dict:
        """The risk task's output, routed by the state machine's Choice."""
        return {"decision": self.decision.value, "reasons": [s.value for s in self.signals], "score": self.score}


def assess(
    request: WithdrawalRequest, facts: AccountFacts | None, now: int, policy: FraudPolicy = DEFAULT_POLICY
) -> Assessment:
    found = detect(request, facts, now, policy)
    return Assessment(decide(found), found, score(found))


def score(signals: Sequence[Signal]) -> int:
    return sum(POINTS[s] for s in set(signals))


def decide(signals: Sequence[Signal]) -> Decision:
    total = score(signals)
    if total >= REJECT_AT:
        return Decision.REJECT
    if total >= REVIEW_AT:
        return Decision.REVIEW
    return Decision.APPROVE


def detect(
    request: WithdrawalRequest, facts: AccountFacts | None, now: int, policy: FraudPolicy = DEFAULT_POLICY
) -> tuple[Signal, ...]:
    """Every signal the request raises, in the table's order."""
    if facts is None:
        return (Signal.UNKNOWN_ACCOUNT,)
    # The request itself is never history, and nothing after `now` is either: a replay sees the same past.
    past = [w for w in facts.history if w.withdrawal_id != request.withdrawal_id and w.requested_at <= now]
    live = [w for w in past if not w.rejected]
    window = [w for w in live if w.requested_at > now - DAY_MS]
    same_asset = [w for w in window if w.asset == request.asset]
    limits = policy.limits.get(request.asset)
    found: list[Signal] = []

    if len(window) + 1 > policy.max_count_24h:
        found.append(Signal.VELOCITY_COUNT)
    if limits is not None and sum(w.amount for w in same_asset) + request.amount > limits.max_daily:
        found.append(Signal.VELOCITY_AMOUNT)
    if is_new_address(request, past, facts.known_addresses, now, policy):
        found.append(Signal.NEW_ADDRESS)
    if above_history(request, past, policy):
        found.append(Signal.AMOUNT_ABOVE_HISTORY)
    if limits is not None and request.amount > limits.max_single:
        found.append(Signal.AMOUNT_OVER_LIMIT)
    if limits is None:
        found.append(Signal.UNLISTED_ASSET)
    if now - facts.created_at < policy.min_account_age_ms:
        found.append(Signal.YOUNG_ACCOUNT)
    return tuple(found)


def is_new_address(
    request: WithdrawalRequest,
    past: Sequence[PastWithdrawal],
    book: Sequence[KnownAddress],
    now: int,
    policy: FraudPolicy,
) -> bool:
    """New unless an approved withdrawal already went there, or the book has held it for the cooling period."""
    target = (request.network, request.address)
    if any(w.approved and (w.network, w.address) == target for w in past):
        return False
    return not any((a.network, a.address) == target and now - a.added_at >= policy.address_cooling_ms for a in book)


def above_history(request: WithdrawalRequest, past: Sequence[PastWithdrawal], policy: FraudPolicy) -> bool:
    """amount > multiple x median, in integers: the median of an even count is the mean of the middle two."""
    amounts = sorted(w.amount for w in past if w.approved and w.asset == request.asset)
    if len(amounts) < policy.min_history:
        return False
    lo, hi = amounts[(len(amounts) - 1) // 2], amounts[len(amounts) // 2]
    return 2 * request.amount > policy.history_multiple * (lo + hi)
