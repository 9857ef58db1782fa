"""The ledger audit as a service: scan every balance, check the identity per asset, record the report.

One piece of code for both callers: the scheduled audit (functions/ledger_audit)
and the admin API's "audit now" (`castle audit`). The check itself is
castle.ledger.audit; the balances and the stream-kept totals come through
the ports below (castle.adapters.dynamo_ledger implements both).
"""

from __future__ import annotations

from typing import Protocol

from castle.ledger import audit


class BalanceScan(Protocol):
    def all_balances(self) -> dict[tuple[str, str], int]:
        """(account, asset) -> free + locked, over every account, EXTERNAL included."""
        ...


class AuditTotals(Protocol):
    def totals(self) -> dict[str, int]:
        """Per asset, the running sum of user and fee postings kept from the entry stream."""
        ...

    def record_audit(self, report: dict) -> None:
        ...


def run_audit(balances: BalanceScan, totals: AuditTotals, now_ms: int) -> dict:
    """The report, recorded: {"ts", "balanced", "assets": [{"asset", "held", "external", "totalsHeld", "balanced"}]}."""
    results = audit(balances.all_balances(), totals.totals())
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
