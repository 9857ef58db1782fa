"""`castle audit`'s route (POST /sapi/v1/castle/admin/audit) and the CLI's exit status, with moto for DynamoDB."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from castle.adapters.dynamo_ledger import DynamoLedger, DynamoLedgerTotals
from castle.ledger import fund
from castle_cli import main as cli
from functions.admin_api import app as admin_app
from tests.lambda_context import FakeLambdaContext

EVENTS = Path(__file__).resolve().parents[2] / "events"
TABLE = "castle-balances"


@pytest.fixture
def books(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("BALANCES_TABLE", TABLE)
    monkeypatch.setenv("CASTLE_ADMIN_TOKEN", "local-admin-token")
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                  {"AttributeName": "SK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoLedger(client, TABLE), DynamoLedgerTotals(client, TABLE)


def audit_now() -> tuple[int, dict]:
    event = json.loads((EVENTS / "admin_audit.json").read_text())
    response = admin_app.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


def funded(ledger, totals, amount: int, counted: int) -> None:
    entry = fund("fund:1", "7", "USDT", amount, 1)
    ledger.apply(entry)
    totals.add(fund("fund:1", "7", "USDT", counted, 1))  # what the entry stream counted


def test_audit_now_reports_each_asset_balanced(books):
    funded(*books, amount=100 * 10**8, counted=100 * 10**8)

    status, body = audit_now()

    assert status == 200 and body["balanced"] is True
    assert body["assets"] == [{"asset": "USDT", "held": 100 * 10**8, "external": -100 * 10**8,
                               "totalsHeld": 100 * 10**8, "balanced": True}]
    assert books[1].latest_audit() == body  # recorded, as the scheduled audit records it


def test_audit_now_flags_one_unit_of_difference(books):
    funded(*books, amount=100 * 10**8, counted=100 * 10**8 - 1)

    status, body = audit_now()

    assert status == 200 and body["balanced"] is False
    assert [a["balanced"] for a in body["assets"]] == [False]


def test_audit_needs_the_admin_token(books, monkeypatch):
    monkeypatch.setenv("CASTLE_ADMIN_TOKEN", "another-token")
    assert audit_now()[0] == 401


class FakeClient:
    def __init__(self, report: dict) -> None:
        self.report = report
        self.calls: list[tuple[str, str]] = []

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        self.calls.append((method, path))
        return self.report


@pytest.mark.parametrize(("balanced", "status"), [(True, 0), (False, 1)])
def test_cli_prints_the_report_and_exits_non_zero_when_imbalanced(monkeypatch, capsys, balanced, status):
    report = {"ts": 1, "balanced": balanced, "assets": [{"asset": "USDT", "balanced": balanced}]}
    fake = FakeClient(report)
    monkeypatch.setattr(cli, "CastleClient", lambda url, token: fake)

    assert cli.main(["audit", "--url", "http://castle.test", "--token", "t"]) == status
    assert json.loads(capsys.readouterr().out) == report
    assert fake.calls == [("POST", "/audit")]
