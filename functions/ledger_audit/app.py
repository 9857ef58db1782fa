"""The scheduled ledger audit: per asset, every balance adds up to funded minus withdrawn.

Scans every balance, compares it with the EXTERNAL account and with the
stream-kept running totals, and records the report as `AUDIT`/`LATEST`
(castle.ledger_audit, shared with the admin API's `castle audit`). An
imbalance is logged as an error with the assets at fault.
"""

from __future__ import annotations

import time

from aws_lambda_powertools import Logger
from castle.adapters.bootstrap import adapters
from castle.ledger_audit import run_audit

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event: dict, context) -> dict:
    report = run_audit(adapters().ledger, adapters().ledger_totals, int(time.time() * 1000))
    if report["balanced"]:
        logger.info("ledger audit balanced", extra={"assets": len(report["assets"])})
    else:
        logger.error("ledger audit IMBALANCED", extra={"assets": [a for a in report["assets"] if not a["balanced"]]})
    return {"balanced": report["balanced"], "assets": len(report["assets"])}
