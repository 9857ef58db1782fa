"""Withdrawal fraud check, states Approve / HoldForReview / Reject / RecordRiskCheckFailed.

Records the outcome on the withdrawal: PENDING_CHECK becomes APPROVED,
UNDER_REVIEW or REJECTED by a conditional update, so a retried task changes
nothing, and an outcome recorded first stands. Returns `{"result", "status"}`
(castle.risk.withdrawals.OutcomeResult); the state machine fails the
execution only for NOT_FOUND or INVALID, i.e. broken input.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from castle.adapters.withdrawal_settings import WithdrawalPorts, bootstrap
from castle.risk.withdrawals import WithdrawalStatus

logger = Logger()
INVALID = "INVALID"


class OutcomeInput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    withdrawalId: str = Field(min_length=1, max_length=64)
    accountId: str = Field(min_length=1, max_length=64)
    status: Literal["APPROVED", "UNDER_REVIEW", "REJECTED"]
    reasons: list[str] = Field(default_factory=list, max_length=20)
    score: int | None = None


@cache
def ports() -> WithdrawalPorts:
    return bootstrap()


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    try:
        outcome = OutcomeInput.model_validate(event)
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        logger.warning("withdrawal outcome", result=INVALID, invalid=fields)
        return {"result": INVALID, "status": None}
    record = ports().withdrawals.record_outcome(
        outcome.accountId,
        outcome.withdrawalId,
        WithdrawalStatus(outcome.status),
        outcome.reasons,
        outcome.score,
        decided_at=time.time_ns() // 1_000_000,
    )
    logger.info(
        "withdrawal outcome", withdrawal_id=outcome.withdrawalId, account_id=outcome.accountId, **record.to_dict()
    )
    return record.to_dict()
