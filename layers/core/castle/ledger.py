"""The double-entry ledger: every movement of money is a balanced entry.

An account holds each asset in two buckets, `free` and `locked` (funds held
for open orders). A `LedgerEntry` is a set of postings whose amounts sum to
zero per asset, so money is never created or lost inside Castle: it only
enters from, or leaves to, the `EXTERNAL` account (deposits, the faucet,
withdrawals). Fees go to the `FEES` account. Hence the audit identity, per
asset: the sum over every user and fee account equals funded minus withdrawn
(which is minus the EXTERNAL balance).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

EXTERNAL = "EXTERNAL"  # the world outside Castle; its balance is minus (funded - withdrawn)
FEES = "FEES"  # the exchange's fee income
UM_CLEARING, UM_FUNDING, UM_TRANSIT = "UM_CLEARING", "UM_FUNDING", "UM_TRANSIT"  # castle.futures.records
SYSTEM_ACCOUNTS = frozenset({EXTERNAL, FEES, UM_CLEARING, UM_FUNDING, UM_TRANSIT})


class Bucket(StrEnum):
    FREE = "free"
    LOCKED = "locked"


class EntryKind(StrEnum):
    FUND = "FUND"
    WITHDRAW = "WITHDRAW"
    HOLD = "HOLD"
    RELEASE = "RELEASE"
    TRADE = "TRADE"
    TRANSFER = "TRANSFER"  # between an account's spot balance and its futures wallet
    REALIZED_PNL = "REALIZED_PNL"
    COMMISSION = "COMMISSION"
    FUNDING_FEE = "FUNDING_FEE"


@dataclass(frozen=True, slots=True)
class Posting:
    """A signed change of one account's bucket of one asset, in integer units."""

    account: str
    asset: str
    bucket: Bucket
    amount: int

    def to_dict(self) -> dict:
        return {"account": self.account, "asset": self.asset, "bucket": str(self.bucket), "amount": self.amount}

    @classmethod
    def from_dict(cls, data: dict) -> Posting:
        return cls(str(data["account"]), data["asset"], Bucket(data["bucket"]), int(data["amount"]))


class UnbalancedEntry(ValueError):
    """An entry whose postings do not sum to zero per asset: a bug, never a client error."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A balanced set of postings. `entry_id` makes applying it idempotent."""

    entry_id: str
    kind: EntryKind
    postings: tuple[Posting, ...]
    ts: int

    def __post_init__(self) -> None:
        if not self.postings:
            raise UnbalancedEntry(f"{self.entry_id}: no postings")
        for asset, total in self.net_by_asset().items():
            if total:
                raise UnbalancedEntry(f"{self.entry_id}: {asset} postings sum to {total}, not 0")
        for p in self.postings:
            if not isinstance(p.amount, int) or isinstance(p.amount, bool):
                raise UnbalancedEntry(f"{self.entry_id}: amount {p.amount!r} is not an integer")

    def net_by_asset(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for p in self.postings:
            totals[p.asset] = totals.get(p.asset, 0) + p.amount
        return totals

    def changes(self) -> dict[tuple[str, str], dict[Bucket, int]]:
        """Net change per (account, asset) and bucket: what the balance rows must absorb."""
        out: dict[tuple[str, str], dict[Bucket, int]] = {}
        for p in self.postings:
            bucket = out.setdefault((p.account, p.asset), {Bucket.FREE: 0, Bucket.LOCKED: 0})
            bucket[p.bucket] += p.amount
        return out

    def to_dict(self) -> dict:
        return {
            "entry_id": self.entry_id,
            "kind": str(self.kind),
            "ts": self.ts,
            "postings": [p.to_dict() for p in self.postings],
        }

    @classmethod
    def from_dict(cls, data: dict) -> LedgerEntry:
        return cls(
            data["entry_id"], EntryKind(data["kind"]), tuple(Posting.from_dict(p) for p in data["postings"]),
            int(data["ts"]),
        )


def fund(entry_id: str, account: str, asset: str, amount: int, ts: int) -> LedgerEntry:
    """Money arrives from outside (a deposit, or the local faucet)."""
    _positive(amount)
    return LedgerEntry(
        entry_id, EntryKind.FUND,
        (Posting(EXTERNAL, asset, Bucket.FREE, -amount), Posting(account, asset, Bucket.FREE, amount)), ts,
    )


def withdraw(entry_id: str, account: str, asset: str, amount: int, ts: int) -> LedgerEntry:
    _positive(amount)
    return LedgerEntry(
        entry_id, EntryKind.WITHDRAW,
        (Posting(account, asset, Bucket.FREE, -amount), Posting(EXTERNAL, asset, Bucket.FREE, amount)), ts,
    )


def hold(entry_id: str, account: str, asset: str, amount: int, ts: int) -> LedgerEntry:
    """Lock funds for an open order: free -> locked within one account."""
    _positive(amount)
    return LedgerEntry(
        entry_id, EntryKind.HOLD,
        (Posting(account, asset, Bucket.FREE, -amount), Posting(account, asset, Bucket.LOCKED, amount)), ts,
    )


def release(entry_id: str, account: str, asset: str, amount: int, ts: int) -> LedgerEntry:
    """Unlock what an order no longer needs: locked -> free."""
    _positive(amount)
    return LedgerEntry(
        entry_id, EntryKind.RELEASE,
        (Posting(account, asset, Bucket.LOCKED, -amount), Posting(account, asset, Bucket.FREE, amount)), ts,
    )


def _positive(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"amount must be a positive integer, not {amount!r}")


@dataclass(frozen=True, slots=True)
class AssetAudit:
    asset: str
    held: int  # the sum of every user and fee balance (free + locked)
    external: int  # minus (funded - withdrawn): what the EXTERNAL account holds
    totals_held: int  # the running total kept from the entry stream

    @property
    def balanced(self) -> bool:
        return self.held + self.external == 0 and self.held == self.totals_held


def audit(balances: dict[tuple[str, str], int], totals: dict[str, int]) -> list[AssetAudit]:
    """Check the ledger identity per asset.

    `balances` maps (account, asset) to free+locked, including EXTERNAL;
    `totals` is the per-asset running sum of user and fee postings kept
    independently from the stream of entries.
    """
    held: dict[str, int] = {}
    external: dict[str, int] = {}
    for (account, asset), amount in balances.items():
        target = external if account == EXTERNAL else held
        target[asset] = target.get(asset, 0) + amount
    assets = sorted(set(held) | set(external) | set(totals))
    return [AssetAudit(a, held.get(a, 0), external.get(a, 0), totals.get(a, 0)) for a in assets]
