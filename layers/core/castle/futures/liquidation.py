"""The liquidation price that positionRisk reports, by Binance's published formula.

Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts":

    LP = (WB - TMM1 + UPNL1 + cumB + cumL + cumS
          - Side1BOTH * Position1BOTH * EP1BOTH - Position1LONG * EP1LONG + Position1SHORT * EP1SHORT)
       / (Position1BOTH * MMR_B + Position1LONG * MMR_L + Position1SHORT * MMR_S
          - Side1BOTH * Position1BOTH - Position1LONG + Position1SHORT)

WB is the cross wallet balance (cross) or the position's isolated wallet
(isolated); TMM1 and UPNL1 are the maintenance margin and uPnL of the
account's *other* cross positions (0 when isolated). One-way mode has one BOTH
leg; hedge mode a LONG and a SHORT leg, which in cross share one price. Every
leg enters as `cum - side * cost` above and `|q| * (mmr - side)` below, where
`cost = |q| * EP` is the position's exact cost basis.

The FAQ also says the bracket must be the one at the liquidation price, not at
entry: compute, look the bracket up at `|q| * LP`, and recompute until they
agree. The price is rounded towards the mark (a long's up, a short's down), so
the reported price is reached no later than the exact one; a price <= 0 is 0,
Binance's "no liquidation price".
"""

from __future__ import annotations

from dataclasses import dataclass

from castle.futures.brackets import Bracket, BracketTable
from castle.futures.contracts import RATE_ONE
from castle.futures.margin import Account, PositionRisk
from castle.futures.positions import Position
from castle.symbols import ONE


@dataclass(frozen=True, slots=True)
class Leg:
    position: Position
    table: BracketTable


def _bracket_at(table: BracketTable, notional: int) -> Bracket:
    return table.brackets[-1] if notional > table.max_notional else table.for_notional(notional)


def _solve(wallet: int, legs: list[Leg], brackets: list[Bracket], other_maint: int, other_upnl: int) -> int:
    num = wallet - other_maint + other_upnl
    den = 0
    for leg, b in zip(legs, brackets):
        p = leg.position
        num += b.cum - p.sign * p.cost
        den += p.qty * (b.maint_margin_ratio - p.sign * RATE_ONE)
    if den == 0:
        return 0
    num *= ONE * RATE_ONE
    if den < 0:
        num, den = -num, -den
    net_long = sum(leg.position.amount for leg in legs) > 0
    price = -((-num) // den) if net_long else num // den
    return max(0, price)


def liquidation_price(wallet: int, legs: list[Leg], other_maint: int = 0, other_upnl: int = 0) -> int:
    """The liquidation price in price units (0 when there is none).

    `wallet` is WB; pass `other_maint`/`other_upnl` for cross positions only.
    """
    legs = [leg for leg in legs if leg.position.qty]
    if not legs:
        return 0
    brackets = [_bracket_at(leg.table, leg.position.cost) for leg in legs]
    price = _solve(wallet, legs, brackets, other_maint, other_upnl)
    for _ in range(sum(len(leg.table.brackets) for leg in legs)):
        at_price = [_bracket_at(leg.table, leg.position.qty * price // ONE) for leg in legs]
        if at_price == brackets:
            break
        brackets = at_price
        price = _solve(wallet, legs, brackets, other_maint, other_upnl)
    return price


def bankruptcy_price(wallet: int, position: Position) -> int:
    """Where an isolated position's margin is exactly gone: EP - side * WB / |q| (the price ADL closes at).

    Rounded towards the mark as the liquidation price is; 0 when below zero.
    """
    if not position.qty:
        return 0
    num = (position.cost - position.sign * wallet) * ONE
    price = -((-num) // position.qty) if position.sign > 0 else num // position.qty
    return max(0, price)


def position_liquidation_price(account: Account, risk: PositionRisk) -> int:
    """`liquidationPrice` for one positionRisk row.

    Isolated: the position alone against its isolated wallet. Cross: every cross leg of
    the symbol (both legs in hedge mode share the price) against the cross wallet, with
    the other symbols' cross maintenance margin and uPnL as TMM1 and UPNL1.
    """
    if risk.isolated:
        return liquidation_price(risk.isolated_wallet, [Leg(risk.position, risk.table)])
    symbol = risk.position.symbol
    same = [p for p in account.cross() if p.position.symbol == symbol]
    others = [p for p in account.cross() if p.position.symbol != symbol]
    return liquidation_price(
        account.cross_wallet_balance(),
        [Leg(p.position, p.table) for p in same],
        other_maint=sum(p.maint_margin() for p in others),
        other_upnl=sum(p.unrealized_pnl() for p in others),
    )
