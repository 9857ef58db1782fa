"""The withdrawal fraud check's state machine, executed for real on the local cloud.

Each test writes a PENDING_CHECK withdrawal (and its account's facts) into the
deployed tables, starts an execution, and reads the path it took from the
execution history by state name: ministack reports a Lambda task as Task*
events where AWS says LambdaFunction*, so event types are not compared.
The Catch path uses the fault hook (FaultInjection=on in samconfig's local
environment): the risk function raises for the sentinel address.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from castle.adapters.dynamo_accounts import DynamoAccountDirectory
from castle.adapters.dynamo_withdrawals import DynamoWithdrawals
from castle.adapters.withdrawal_settings import FAULT_ADDRESS
from castle.risk.fraud import DAY_MS, UNIT, WithdrawalRequest

HOME = "bc1qe2ehome"
FINISHED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class Desk:
    """One fresh account per test, on the deployed tables."""

    def __init__(self, cloud, created_days_ago: int = 30) -> None:
        dynamodb = cloud.session.resource("dynamodb", endpoint_url=cloud.info.endpoint)
        self.sfn = cloud.client("stepfunctions")
        self.machine = cloud.outputs["WithdrawalFraudCheckStateMachineArn"]
        self.accounts = DynamoAccountDirectory(cloud.outputs["AccountsTableName"], dynamodb)
        self.withdrawals = DynamoWithdrawals(cloud.outputs["WithdrawalsTableName"], dynamodb)
        self.account = f"e2e-{uuid.uuid4().hex[:10]}"
        self.now = time.time_ns() // 1_000_000
        self.accounts.put_profile(self.account, self.now - created_days_ago * DAY_MS)
        self.accounts.add_address(self.account, "BTC", HOME, self.now - 10 * DAY_MS)

    def request(self, amount: int = UNIT // 10, address: str = HOME, pending: bool = True) -> WithdrawalRequest:
        request = WithdrawalRequest(f"w-{uuid.uuid4().hex[:12]}", self.account, "BTC", amount, address, "BTC", self.now)
        if pending:
            assert self.withdrawals.put_pending(request)
        return request

    def run(self, request: WithdrawalRequest, name: str | None = None, timeout_s: float = 60.0) -> dict:
        """Start an execution for the request and wait for it to finish."""
        body = {
            "withdrawalId": request.withdrawal_id,
            "accountId": request.account_id,
            "asset": request.asset,
            "amount": request.amount,
            "address": request.address,
            "network": request.network,
            "requestedAt": request.requested_at,
        }
        arn = self.sfn.start_execution(
            stateMachineArn=self.machine, name=name or request.withdrawal_id, input=json.dumps(body)
        )["executionArn"]
        deadline = time.monotonic() + timeout_s
        while (execution := self.sfn.describe_execution(executionArn=arn))["status"] not in FINISHED:
            assert time.monotonic() < deadline, f"{arn} still {execution['status']} after {timeout_s:.0f}s"
            time.sleep(0.2)
        return execution

    def history(self, execution: dict) -> list[dict]:
        events, token = [], None
        while True:
            page = self.sfn.get_execution_history(
                executionArn=execution["executionArn"], **({"nextToken": token} if token else {})
            )
            events += page["events"]
            if not (token := page.get("nextToken")):
                return events

    def path(self, execution: dict) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"] for e in self.history(execution) if "stateEnteredEventDetails" in e
        ]

    def status(self, request: WithdrawalRequest) -> tuple[str, list[str]]:
        item = self.withdrawals.get(request.account_id, request.withdrawal_id)
        return item["Status"], list(item.get("Reasons", []))


@pytest.fixture
def desk(local_cloud) -> Desk:
    return Desk(local_cloud)


def test_a_usual_withdrawal_is_approved(desk):
    request = desk.request()
    execution = desk.run(request)
    assert execution["status"] == "SUCCEEDED"
    assert desk.path(execution) == ["Assess", "Route", "Approve", "Recorded", "Done"]
    assert desk.status(request) == ("APPROVED", [])
    output = json.loads(execution["output"])
    assert output["assessment"]["decision"] == "APPROVE" and output["outcome"]["result"] == "RECORDED"


def test_a_new_address_on_a_young_account_is_held_for_review(local_cloud):
    desk = Desk(local_cloud, created_days_ago=1)
    request = desk.request(address="bc1qstranger")
    execution = desk.run(request)
    assert execution["status"] == "SUCCEEDED"
    assert desk.path(execution) == ["Assess", "Route", "HoldForReview", "Recorded", "Done"]
    assert desk.status(request) == ("UNDER_REVIEW", ["new address", "young account"])


def test_a_withdrawal_over_the_single_limit_is_rejected(desk):
    request = desk.request(amount=2 * UNIT + 1)
    execution = desk.run(request)
    assert execution["status"] == "SUCCEEDED"
    assert desk.path(execution) == ["Assess", "Route", "Reject", "Recorded", "Done"]
    assert desk.status(request) == ("REJECTED", ["amount over limit"])


def test_a_risk_check_that_keeps_failing_is_retried_then_held_for_review(desk):
    request = desk.request(address=FAULT_ADDRESS)
    execution = desk.run(request)
    assert execution["status"] == "SUCCEEDED"
    assert desk.path(execution) == ["Assess", "RecordRiskCheckFailed", "Recorded", "Done"]
    failures = [e for e in desk.history(execution) if e["type"] in ("TaskFailed", "LambdaFunctionFailed")]
    assert len(failures) == 4  # the first attempt and three retries
    assert desk.status(request) == ("UNDER_REVIEW", ["risk check failed"])


def test_running_the_check_again_changes_nothing(desk):
    request = desk.request()
    desk.run(request)
    before = desk.withdrawals.get(request.account_id, request.withdrawal_id)
    execution = desk.run(request, name=f"{request.withdrawal_id}-again")
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["outcome"] == {"result": "UNCHANGED", "status": "APPROVED"}
    assert desk.withdrawals.get(request.account_id, request.withdrawal_id) == before


def test_an_execution_for_a_withdrawal_that_was_never_written_fails_as_invalid(desk):
    request = desk.request(pending=False)
    execution = desk.run(request)
    assert execution["status"] == "FAILED"
    assert desk.path(execution) == ["Assess", "Route", "Approve", "Recorded", "InvalidRequest"]
    assert desk.withdrawals.get(request.account_id, request.withdrawal_id) is None
