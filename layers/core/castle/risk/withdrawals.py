"""The withdrawal fraud check's application side: statuses, ports and the one service.

The state machine (statemachines/withdrawal_fraud_check.asl.json) calls
`check_withdrawal` through the risk Lambda, routes on its decision, and records
the outcome through the outcome Lambda. A withdrawal waits in PENDING_CHECK
(its funds held) until exactly one outcome is recorded; a retry records nothing
new, because the store's write is conditional on PENDING_CHECK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from castle.risk.fraud import (
    DAY_MS,
    DEFAULT_POLICY,
    AccountFacts,
    Assessment,
    Decision,
    FraudPolicy,
    PastWithdrawal,
    WithdrawalRequest,
    assess,
)

HISTORY_MS = 90 * DAY_MS  # how far back the amount-against-history rule looks
HISTORY_LIMIT = 100  # newest first; more than any velocity limit, so velocity never undercounts


class WithdrawalStatus(StrEnum):
    PENDING_CHECK = "PENDING_CHECK"
    APPROVED = "APPROVED"
    UNDER_REVIEW = "UNDER_REVIEW"
    REJECTED = "REJECTED"


OUTCOME_OF = {
    Decision.APPROVE: WithdrawalStatus.APPROVED,
    Decision.REVIEW: WithdrawalStatus.UNDER_REVIEW,
    Decision.REJECT: WithdrawalStatus.REJECTED,
}


class OutcomeResult(StrEnum):
    RECORDED = "RECORDED"  # PENDING_CHECK became the new status
    UNCHANGED = "UNCHANGED"  # it already had this status: a retry
    SUPERSEDED = "SUPERSEDED"  # another status was recorded first, and stands
    NOT_FOUND = "NOT_FOUND"  # no such withdrawal: the execution's input is broken


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    result: OutcomeResult
    status: str | None  # the withdrawal's status after the call

    def to_dict(self) -> dict:
        return {"result": self.result.value, "status": self.status}


class AccountDirectory(Protocol):
    def facts(self, account_id: str) -> AccountFacts | None:
        """Created-at and the address book (no history), or None for an unknown account."""


class WithdrawalStore(Protocol):
    def history(self, account_id: str, since: int, until: int, limit: int) -> Sequence[PastWithdrawal]:
        """The account's withdrawals requested in [since, until], newest first, at most `limit`."""

    def record_outcome(
        self,
        account_id: str,
        withdrawal_id: str,
        status: WithdrawalStatus,
        reasons: Sequence[str],
        score: int | None,
        decided_at: int,
    ) -> OutcomeRecord:
        """Move PENDING_CHECK to `status`, once; any other current status is left as it is."""


def check_withdrawal(
    request: WithdrawalRequest,
    now: int,
    accounts: AccountDirectory,
    withdrawals: WithdrawalStore,
    policy: FraudPolicy = DEFAULT_POLICY,
) -> Assessment:
    facts = accounts.facts(request.account_id)
    if facts is not None:
        history = withdrawals.history(request.account_id, now - HISTORY_MS, now, HISTORY_LIMIT)
        facts = replace(facts, history=tuple(history))
    return assess(request, facts, now, policy)
