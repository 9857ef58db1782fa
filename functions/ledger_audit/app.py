"""The scheduled ledger audit: per asset, every balance adds up to funded minus withdrawn.

Scans every balance, compares it with the EXTERNAL account and with the
stream-kept running totals (`castle.ledger.audit`), and records the report as
`AUDIT`/`LATEST`. An imbalance is logged as an error with the assets at fault.
"""

from __future__ import annotations

import os
import time

import boto3
from aws_lambda_powertools import Logger
from castle.adapters.dynamo_ledger import DynamoLedger, DynamoLedgerTotals
from castle.ledger import audit

logger = Logger()
_client = boto3.client("dynamodb")
ledger = DynamoLedger(_client, os.environ["BALANCES_TABLE"])
totals = DynamoLedgerTotals(_client, os.environ["BALANCES_TABLE"])


def run_audit(now_ms: int) -> dict:
    results = audit(ledger.all_balances(), totals.totals())
    report = {
        "ts": now_ms,
        "balanced": all(r.balanced for r in results),
        "assets": [
            {"asset": r.asset, "held": r.held, "external": r.external, "totalsHeld": r.totals_held,
             "balanced": r.balanced}
            for r in results
        ],
    }
    totals.record_audit(report)
    return report


@logger.inject_lambda_context
def lambda_handler(event: dict, context) -> dict:
    report = run_audit(int(time.time() * 1000))
    if report["balanced"]:
        logger.info("ledger audit balanced", extra={"assets": len(report["assets"])})
    else:
        logger.error("ledger audit IMBALANCED", extra={"assets": [a for a in report["assets"] if not a["balanced"]]})
    return {"balanced": report["balanced"], "assets": len(report["assets"])}
