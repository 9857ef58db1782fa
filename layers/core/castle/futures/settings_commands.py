"""The account commands that touch no book: leverage, margin type, position mode, isolated margin, transfers.

Each checks Binance's rule first and changes nothing when it fails (the
engine turns the error into a CommandRejected); on success it emits what
ACCOUNT_CONFIG_UPDATE or ACCOUNT_UPDATE reports.
"""

from __future__ import annotations

from castle import errors
from castle.futures.commands import (
    AdjustIsolatedMargin,
    SetLeverage,
    SetMarginType,
    SetPositionMode,
    TransferIn,
    TransferOut,
)
from castle.futures.events import AccountConfigChanged, IsolatedMarginMoved, WalletPosting
from castle.futures.margin import check_add_isolated_margin, check_margin_type_change, check_reduce_isolated_margin


def apply_setting(engine, cmd, seq: int, events: list) -> None:
    kind = type(cmd)
    if kind is TransferIn:
        _transfer_in(engine, cmd, seq, events)
    elif kind is TransferOut:
        _transfer_out(engine, cmd, seq, events)
    elif kind is SetPositionMode:
        _position_mode(engine, cmd, seq, events)
    else:
        if cmd.symbol not in engine.contracts:
            raise errors.invalid_symbol()
        {SetLeverage: _leverage, SetMarginType: _margin_type, AdjustIsolatedMargin: _isolated_margin}[kind](
            engine, cmd, seq, events)


def _config_event(engine, account, symbol: str, seq: int, ts: int) -> AccountConfigChanged:
    settings = account.settings_for(symbol) if symbol else None
    return AccountConfigChanged(seq, account.id, symbol, settings.leverage if settings else 0,
                                str(settings.margin_type) if settings else "", account.dual, ts)


def _leverage(engine, cmd: SetLeverage, seq: int, events: list) -> None:
    """Binance: 1..the bracket's max (-4028); the position with its orders must fit the leverage's cap
    (-2027); and a lower leverage needs the extra margin available (-2019)."""
    table = engine.brackets.get(cmd.symbol)
    table.check_leverage(cmd.leverage)
    account = engine.account(cmd.account)
    settings = account.settings_for(cmd.symbol)
    mark = engine.mark(cmd.symbol) or 0
    for leg in account.symbol_legs(cmd.symbol):
        exposure = leg.requirement(mark, 1)  # max(|PN + bids|, |PN - asks|)
        table.check_position(cmd.leverage, exposure)
    old = settings.leverage
    settings.leverage = cmd.leverage
    if cmd.leverage < old and engine.valuation(account).available < 0:
        settings.leverage = old
        raise errors.margin_insufficient()
    events.append(_config_event(engine, account, cmd.symbol, seq, cmd.ts))


def _margin_type(engine, cmd: SetMarginType, seq: int, events: list) -> None:
    account = engine.account(cmd.account)
    settings = account.settings_for(cmd.symbol)
    open_orders = account.working_orders(cmd.symbol) + len(engine.conditional.of(cmd.account, cmd.symbol))
    position_qty = sum(leg.position.qty for leg in account.symbol_legs(cmd.symbol))
    check_margin_type_change(settings.margin_type, cmd.margin_type, open_orders, position_qty)
    settings.margin_type = cmd.margin_type
    events.append(_config_event(engine, account, cmd.symbol, seq, cmd.ts))


def _position_mode(engine, cmd: SetPositionMode, seq: int, events: list) -> None:
    """POST /fapi/v1/positionSide/dual: for every symbol at once, so no open order and no position anywhere."""
    account = engine.account(cmd.account)
    if account.dual == cmd.dual:
        raise errors.no_need_to_change_position_side()
    if account.working_orders() or engine.conditional.of(cmd.account):
        raise errors.position_side_open_orders()
    if account.has_position():
        raise errors.position_side_positions()
    account.dual = cmd.dual
    account.legs = {k: leg for k, leg in account.legs.items() if leg.position.realized or leg.isolated_wallet}
    events.append(_config_event(engine, account, "", seq, cmd.ts))


def _isolated_margin(engine, cmd: AdjustIsolatedMargin, seq: int, events: list) -> None:
    account = engine.account(cmd.account)
    risk = engine.position_risk(account, cmd.symbol, cmd.position_side)
    leg = account.leg(cmd.symbol, cmd.position_side)
    if cmd.add:
        check_add_isolated_margin(risk, cmd.amount, engine.valuation(account).available)
        leg.isolated_wallet += cmd.amount
    else:
        check_reduce_isolated_margin(risk, cmd.amount)
        leg.isolated_wallet -= cmd.amount
    moved = cmd.amount if cmd.add else -cmd.amount
    events.append(IsolatedMarginMoved(seq, cmd.symbol, account.id, str(cmd.position_side), moved,
                                      leg.isolated_wallet, "MARGIN_TRANSFER", cmd.ts))
    events.append(engine._position_event(account, leg, "MARGIN_TRANSFER", seq, cmd.ts))


def _transfer_in(engine, cmd: TransferIn, seq: int, events: list) -> None:
    if cmd.amount <= 0:
        raise errors.amount_must_be_positive()
    if cmd.tran_id in engine.transfers:
        return  # a resent transfer: applied once already
    engine.transfers.add(cmd.tran_id)
    account = engine.account(cmd.account)
    account.wallet += cmd.amount
    events.append(WalletPosting(seq, account.id, "TRANSFER", cmd.amount, "", str(cmd.tran_id), cmd.ts))


def _transfer_out(engine, cmd: TransferOut, seq: int, events: list) -> None:
    """At most maxWithdrawAmount: the available balance, and never more than the cross wallet holds."""
    if cmd.amount <= 0:
        raise errors.amount_must_be_positive()
    if cmd.tran_id in engine.transfers:
        return
    account = engine.account(cmd.account)
    valuation = engine.valuation(account)
    if cmd.amount > min(valuation.available, valuation.cross_wallet):
        raise errors.transfer_insufficient()
    engine.transfers.add(cmd.tran_id)
    account.wallet -= cmd.amount
    events.append(WalletPosting(seq, account.id, "TRANSFER", -cmd.amount, "", str(cmd.tran_id), cmd.ts))

