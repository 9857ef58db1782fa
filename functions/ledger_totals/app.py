"""Ledger totals: the balances table's stream -> running per-asset totals.

Each new ledger entry (an `ENTRY` item INSERT) is counted exactly once: the
count and an `APPLIED#<entryId>` marker are written in one conditional
transaction, so a redelivered record changes nothing. A batch of records
shares its transactions (up to 100 items each), not one per entry. The audit compares these
totals with a scan of every balance: two independent computations of the same
sum.
"""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger
from castle.adapters.bootstrap import adapters
from castle.ledger import LedgerEntry

logger = Logger()
# The fault hook (settings.faults, off in AWS): the local cloud turns it on so that a test can make
# one record fail once (entry ids starting with FAULT_ONCE) and watch the stream retry it.
FAULT_ONCE = "fault-once:"


class InjectedFault(RuntimeError):
    """A deliberate, one-time failure (local cloud only)."""


def entry_from_image(image: dict) -> LedgerEntry:
    return LedgerEntry.from_dict(
        {
            "entry_id": image["PK"]["S"].removeprefix("ENTRY#"),
            "kind": image["kind"]["S"],
            "ts": image["ts"]["N"],
            "postings": json.loads(image["postings"]["S"]),
        }
    )


@logger.inject_lambda_context
def lambda_handler(event: dict, context) -> dict:
    totals, faults = adapters().ledger_totals, adapters().settings.faults
    entries = []
    for record in event.get("Records", []):
        image = record.get("dynamodb", {}).get("NewImage", {})
        if record.get("eventName") != "INSERT" or image.get("SK", {}).get("S") != "ENTRY":
            continue
        entry = entry_from_image(image)
        if faults and entry.entry_id.startswith(FAULT_ONCE) and totals.mark_fault(entry.entry_id):
            logger.warning("injected fault", extra={"entry_id": entry.entry_id})
            raise InjectedFault(entry.entry_id)
        entries.append(entry)
    counted, repeated = totals.add_all(entries)
    logger.info("ledger totals", extra={"counted": counted, "repeated": repeated})
    return {"counted": counted, "repeated": repeated}
