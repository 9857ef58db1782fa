"""WithdrawalsTable: one item per withdrawal, its status moved once by the fraud check.

Item: PK ACCOUNT#<id>, SK WITHDRAWAL#<id>, with WithdrawalId, AccountId,
Asset, Amount (units), Address, Network, RequestedAt (ms), Status, and once
decided Reasons, Score and DecidedAt. The local index ByRequestedAt (PK,
RequestedAt) gives an account's history newest first with a strongly
consistent read, so a burst of withdrawals sees its own earlier members.
"""

from __future__ import annotations

from collections.abc import Sequence

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from castle.risk.fraud import PastWithdrawal, WithdrawalRequest
from castle.risk.withdrawals import OutcomeRecord, OutcomeResult, WithdrawalStatus

BY_REQUESTED_AT = "ByRequestedAt"


def account_key(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def withdrawal_key(withdrawal_id: str) -> str:
    return f"WITHDRAWAL#{withdrawal_id}"


class DynamoWithdrawals:
    """Implements castle.risk.withdrawals.WithdrawalStore."""

    def __init__(self, table_name: str, dynamodb=None) -> None:
        self.table = (dynamodb or boto3.resource("dynamodb")).Table(table_name)

    def put_pending(self, request: WithdrawalRequest) -> bool:
        """Write a new withdrawal as PENDING_CHECK; False if it already exists (a retried request)."""
        try:
            self.table.put_item(
                Item={
                    "PK": account_key(request.account_id),
                    "SK": withdrawal_key(request.withdrawal_id),
                    "WithdrawalId": request.withdrawal_id,
                    "AccountId": request.account_id,
                    "Asset": request.asset,
                    "Amount": request.amount,
                    "Address": request.address,
                    "Network": request.network,
                    "RequestedAt": request.requested_at,
                    "Status": WithdrawalStatus.PENDING_CHECK.value,
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, account_id: str, withdrawal_id: str) -> dict | None:
        key = {"PK": account_key(account_id), "SK": withdrawal_key(withdrawal_id)}
        return self.table.get_item(Key=key, ConsistentRead=True).get("Item")

    def history(self, account_id: str, since: int, until: int, limit: int) -> list[PastWithdrawal]:
        response = self.table.query(
            IndexName=BY_REQUESTED_AT,
            KeyConditionExpression=Key("PK").eq(account_key(account_id)) & Key("RequestedAt").between(since, until),
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )
        return [past_withdrawal(item) for item in response["Items"]]

    def record_outcome(
        self,
        account_id: str,
        withdrawal_id: str,
        status: WithdrawalStatus,
        reasons: Sequence[str],
        score: int | None,
        decided_at: int,
    ) -> OutcomeRecord:
        key = {"PK": account_key(account_id), "SK": withdrawal_key(withdrawal_id)}
        try:
            self.table.update_item(
                Key=key,
                UpdateExpression="SET #status = :status, Reasons = :reasons, Score = :score, DecidedAt = :at",
                ConditionExpression="#status = :pending",
                ExpressionAttributeNames={"#status": "Status"},
                ExpressionAttributeValues={
                    ":status": status.value,
                    ":reasons": list(reasons),
                    ":score": score,
                    ":at": decided_at,
                    ":pending": WithdrawalStatus.PENDING_CHECK.value,
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            item = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
            if item is None:
                return OutcomeRecord(OutcomeResult.NOT_FOUND, None)
            same = item["Status"] == status.value
            return OutcomeRecord(OutcomeResult.UNCHANGED if same else OutcomeResult.SUPERSEDED, item["Status"])
        return OutcomeRecord(OutcomeResult.RECORDED, status.value)


def past_withdrawal(item: dict) -> PastWithdrawal:
    status = item["Status"]
    return PastWithdrawal(
        withdrawal_id=item["WithdrawalId"],
        asset=item["Asset"],
        amount=int(item["Amount"]),
        address=item["Address"],
        network=item["Network"],
        requested_at=int(item["RequestedAt"]),
        approved=status == WithdrawalStatus.APPROVED,
        rejected=status == WithdrawalStatus.REJECTED,
    )
