"""The reconciler (scheduled): orders whose command never reached the engine get their hold back.

See castle.trading.Trading.reconcile for the rule; this is its schedule.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools import Logger

from castle.adapters.bootstrap import trading_service

logger = Logger()


@cache
def service():
    return trading_service()


@logger.inject_lambda_context
def lambda_handler(event: dict, context) -> dict:
    try:
        outcomes = service().reconcile()
    except Exception:
        logger.exception("reconciliation failed; the next run retries")
        return {"reconciled": 0, "error": True}
    for outcome in outcomes:
        logger.warning("reconciled a stuck order", extra=outcome)
    logger.info("reconciler run", extra={"reconciled": len(outcomes)})
    return {"reconciled": len(outcomes)}
