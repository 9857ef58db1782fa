"""Settlement: what the engine's events mean for money, as balanced ledger entries.

Stage order (as in exchange-core): risk hold -> matching -> settlement. The
gateway holds an order's worst-case cost before the engine sees it; each fill
moves held funds between the two accounts and charges fees; when the order
ends, what is still held for it is released. Matching never looks at balances
and settlement never looks at the book.

Fees follow Binance: each side pays in the asset it receives (the buyer in the
base asset, the seller in the quote asset), at its maker or taker rate,
rounded up to the unit.
"""

from __future__ import annotations

from castle.accounts import Commission
from castle.events import TradeExecuted
from castle.holds import Hold
from castle.ledger import FEES, Bucket, EntryKind, LedgerEntry, Posting, release
from castle.orders import Side
from castle.symbols import Symbol

RATE_ONE = 10**8  # commission rates are integers in 1e-8 (0.1% = 100_000), as castle.accounts keeps them


def fee(amount: int, rate: int) -> int:
    """The fee on `amount` units at `rate` (1e-8), rounded up: the exchange never under-charges by a unit."""
    return -(-amount * rate // RATE_ONE)


def trade_entry(
    symbol: Symbol, trade: TradeExecuted, maker: Commission, taker: Commission, ts: int
) -> tuple[LedgerEntry, int, int]:
    """The ledger entry of one fill, and the fees (base paid by the buyer, quote paid by the seller)."""
    qty = symbol.qty_units(trade.qty)
    notional = symbol.quote_units(trade.price * trade.qty)
    taker_buys = trade.taker_side is Side.BUY
    buyer, seller = (trade.taker_account, trade.maker_account) if taker_buys else (trade.maker_account, trade.taker_account)
    buyer_rate = taker.taker if taker_buys else maker.maker
    seller_rate = maker.maker if taker_buys else taker.taker
    base_fee, quote_fee = fee(qty, buyer_rate), fee(notional, seller_rate)
    base, quote = symbol.base.name, symbol.quote.name
    postings = [
        Posting(str(buyer), quote, Bucket.LOCKED, -notional),
        Posting(str(buyer), base, Bucket.FREE, qty - base_fee),
        Posting(str(seller), base, Bucket.LOCKED, -qty),
        Posting(str(seller), quote, Bucket.FREE, notional - quote_fee),
    ]
    if base_fee:
        postings.append(Posting(FEES, base, Bucket.FREE, base_fee))
    if quote_fee:
        postings.append(Posting(FEES, quote, Bucket.FREE, quote_fee))
    entry = LedgerEntry(f"trade:{symbol.name}:{trade.trade_id}", EntryKind.TRADE, tuple(postings), ts)
    return entry, base_fee, quote_fee


def used_by_fill(symbol: Symbol, side: Side, trade: TradeExecuted) -> int:
    """How much of an order's hold one fill consumed (quote for a buyer, base for a seller)."""
    if side is Side.BUY:
        return symbol.quote_units(trade.price * trade.qty)
    return symbol.qty_units(trade.qty)


def release_leftover(symbol: str, order_id: int, account: int, hold: Hold, used: int, ts: int) -> LedgerEntry | None:
    """When an order ends, give back what it held and did not use (price improvement, cancels, expiry)."""
    left = hold.amount - used
    if left < 0:
        raise ValueError(f"order {order_id} used {used} of a {hold.amount} hold")
    if not left:
        return None
    return release(f"release:{symbol}:{order_id}", str(account), hold.asset, left, ts)
