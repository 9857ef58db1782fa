"""Withdrawal fraud check, state Assess: the account's facts in, a decision out.

Returns the decision as data, `{"decision", "reasons", "score"}`, and the
state machine's Choice routes on it: a business outcome is never an
exception. It raises only when it cannot decide (DynamoDB unreachable, or the
fault hook below): the ASL retries on States.TaskFailed, then records
UNDER_REVIEW with "risk check failed". Input it cannot read becomes
`{"decision": "INVALID"}`, which the Choice sends to a Fail state.

`now` is the request's own time, so a retried assessment sees the same past
and decides the same way.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from castle.adapters.withdrawal_settings import FAULT_ADDRESS, WithdrawalPorts, bootstrap
from castle.risk.fraud import WithdrawalRequest
from castle.risk.withdrawals import check_withdrawal

logger = Logger()
INVALID = "INVALID"


class WithdrawalInput(BaseModel):
    """The execution's input: what the withdraw API wrote as PENDING_CHECK."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    withdrawalId: str = Field(min_length=1, max_length=64)
    accountId: str = Field(min_length=1, max_length=64)
    asset: str = Field(pattern=r"^[A-Z0-9]{1,20}$")
    amount: int = Field(gt=0)  # units of 1e-8; a digit string is accepted too
    address: str = Field(min_length=1, max_length=256)
    network: str = Field(min_length=1, max_length=32)
    requestedAt: int = Field(ge=0)  # ms

    def to_request(self) -> WithdrawalRequest:
        return WithdrawalRequest(
            self.withdrawalId, self.accountId, self.asset, self.amount, self.address, self.network, self.requestedAt
        )


class InjectedFault(RuntimeError):
    """Raised only by the fault hook (CASTLE_FAULTS=on; off in AWS)."""


@cache
def ports() -> WithdrawalPorts:
    return bootstrap()


@logger.inject_lambda_context
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    try:
        request = WithdrawalInput.model_validate(event).to_request()
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        logger.warning("withdrawal risk", decision=INVALID, invalid=fields)
        return {"decision": INVALID, "reasons": [f"invalid request: {', '.join(fields)}"], "score": None}
    deps = ports()
    if deps.settings.faults and request.address == FAULT_ADDRESS:
        logger.warning("withdrawal risk", withdrawal_id=request.withdrawal_id, fault="risk-check")
        raise InjectedFault(f"fault injected for withdrawal {request.withdrawal_id}")
    assessment = check_withdrawal(request, request.requested_at, deps.accounts, deps.withdrawals).to_dict()
    logger.info("withdrawal risk", withdrawal_id=request.withdrawal_id, account_id=request.account_id, **assessment)
    return assessment
