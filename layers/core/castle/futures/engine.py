"""The USD-M futures engine: risk hold -> matching -> risk release, over one journal for the whole market.

Composition, not branches: each contract's book is spot's `MatchingEngine`
(compiled, untouched), and this engine is the risk stage around it
(exchange-core's R1/R2). Before an order reaches a book it checks position
side, reduce-only, the mark-priced filters and the account's margin, over the
account's whole state (accounts.py); after, it turns each fill into position,
realized PnL, commission and isolated-margin changes. Matching never looks at
balances, and risk never touches the book, except through the book's own
commands (place, cancel, amend).

One thread owns every contract and account, so the pre-trade check is exact
and race-free across symbols, and the engine is deterministic: a replay of
the journal gives the same events (`state_hash`).
"""

from __future__ import annotations

import hashlib
import json

from castle import errors
from castle.errors import CastleError
from castle.events import (
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    TradeExecuted,
)
from castle.events import OrderAmended as BookOrderAmended
from castle.events import OrderRejected as BookOrderRejected
from castle.futures import accounts as acct
from castle.futures.book_symbol import book_symbol
from castle.futures.book_walk import levels_best_first
from castle.futures.brackets import BracketBook
from castle.futures.commands import (
    AdjustIsolatedMargin,
    FuturesCancel,
    FuturesCancelAll,
    FuturesOrder,
    FuturesOrderType,
    FuturesTimeInForce,
    SetLeverage,
    SetMarginType,
    SetPositionMode,
    SettleFunding,
    TransferIn,
    TransferOut,
    UpdateMarks,
    WorkingType,
)
from castle.futures.conditional import ConditionalBook, check_not_triggered
from castle.futures.contracts import RATE_ONE, PerpetualContract, fill_notional
from castle.futures.events import (
    CommandRejected,
    FundingSettled,
    FuturesTrade,
    IsolatedMarginMoved,
    OrderRejected,
    OrderUpdated,
    OrderView,
    PositionChanged,
    WalletPosting,
)
from castle.futures.funding import allocate
from castle.futures.margin import MarginType, PositionRisk, initial_margin
from castle.futures.positions import PositionSide, apply_fill, reduce_only_cap
from castle.futures.settings_commands import apply_setting
from castle.futures.working import Working, fee_for
from castle.matching import MatchingEngine
from castle.orders import AmendOrder, CancelOrder, OrderType, PlaceOrder, Side, StpMode, TimeInForce

MAKER_RATE = 20_000  # 0.02%: Binance's USD-M default (VIP 0)
TAKER_RATE = 50_000  # 0.05%
BOOK_TIF = {FuturesTimeInForce.GTC: TimeInForce.GTC, FuturesTimeInForce.GTX: TimeInForce.GTC,
            FuturesTimeInForce.IOC: TimeInForce.IOC, FuturesTimeInForce.FOK: TimeInForce.FOK}
MAX_TRIGGER_ROUNDS = 100  # a trigger cascade is bounded: what is left fires on the next price


class FuturesEngine:
    def __init__(self, contracts: dict[str, PerpetualContract], brackets: BracketBook,
                 maker_rate: int = MAKER_RATE, taker_rate: int = TAKER_RATE) -> None:
        self.contracts = contracts
        self.brackets = brackets
        self.books = {name: MatchingEngine(book_symbol(c)) for name, c in contracts.items()}
        self.accounts: dict[int, acct.FuturesAccount] = {}
        self.marks: dict[str, int] = {}
        self.indexes: dict[str, int] = {}
        self.funding_rates: dict[str, int] = {}  # the last settled rate per symbol
        self.orders: dict[int, Working] = {}  # working (booked) orders by id
        self.conditional = ConditionalBook()
        self.transfers: set[int] = set()  # tran ids applied: a resent transfer changes nothing
        self.rates = (maker_rate, taker_rate)
        self.reduce_only_makers: dict[tuple[str, Side], int] = {}  # booked closing orders per book side
        self.moved: set[tuple[int, str]] = set()  # (account, symbol) whose closing orders may now close too much
        self.seq = 0

    # ------------------------------------------------------------------ commands
    def submit(self, command) -> list:
        self.seq = seq = self.seq + 1
        events: list = []
        kind = type(command)
        try:
            if kind is FuturesOrder:
                self._place(command, seq, events)
            elif kind is FuturesCancel:
                self._cancel(command, seq, events)
            elif kind is FuturesCancelAll:
                self._cancel_all(command, seq, events)
            elif kind is UpdateMarks:
                self._update_marks(command, seq, events)
            elif kind is SettleFunding:
                self._settle_funding(command, seq, events)
            elif kind in (SetLeverage, SetMarginType, SetPositionMode, AdjustIsolatedMargin, TransferIn,
                          TransferOut):
                self._configure(command, seq, events)
            else:
                raise TypeError(f"not a futures command: {command!r}")
        except CastleError as e:
            account = getattr(command, "account", 0)
            if kind is FuturesOrder:
                events.append(OrderRejected(seq, command.symbol, command.order_id, account, e.code, e.msg))
            else:
                events.append(CommandRejected(seq, account, e.code, e.msg))
        return events

    def account(self, account_id: int) -> acct.FuturesAccount:
        found = self.accounts.get(account_id)
        if found is None:
            found = self.accounts[account_id] = acct.FuturesAccount(account_id)
        return found

    def mark(self, symbol: str) -> int | None:
        """The mark price, or the last trade price before the feed's first tick."""
        mark = self.marks.get(symbol)
        if mark is None:
            last = self.books[symbol].last_price
            if last is not None:
                return last * self.books[symbol].symbol.tick
        return mark

    def last_price(self, symbol: str) -> int | None:
        book = self.books[symbol]
        last = book.last_price
        return None if last is None else last * book.symbol.tick

    def valuation(self, account: acct.FuturesAccount) -> acct.Valuation:
        marks = {s: self.mark(s) or 0 for s in self.contracts}
        return acct.value(account, marks, {s: self.brackets.get(s) for s in self.contracts})

    # ------------------------------------------------------------------ placing
    def _place(self, cmd: FuturesOrder, seq: int, events: list) -> None:
        contract = self.contracts.get(cmd.symbol)
        if contract is None:
            raise errors.invalid_symbol()
        if cmd.order_id in self.orders or cmd.order_id in self.conditional.orders:
            raise errors.duplicate_order()
        account = self.account(cmd.account)
        self._check_position_side(account, cmd)
        if cmd.type.is_conditional:
            trigger = self.mark(cmd.symbol) if cmd.working_type is WorkingType.MARK_PRICE else self.last_price(
                cmd.symbol)
            check_not_triggered(cmd, trigger)
            if self.conditional.count(cmd.account, cmd.symbol) >= contract.max_num_orders:
                raise errors.max_open_orders_exceeded()
            parked = self.conditional.park(cmd, trigger, cmd.ts)
            events.append(OrderUpdated(seq, "NEW", _parked_view(parked.cmd, "NEW", parked.time, cmd.ts)))
            return
        self._enter(cmd, cmd.type, seq, events)
        self._run_triggers(cmd.symbol, cmd.ts, seq, events)

    def _check_position_side(self, account: acct.FuturesAccount, cmd: FuturesOrder) -> None:
        """Binance: one-way mode takes BOTH only; hedge mode LONG or SHORT, and no reduceOnly (-1106)."""
        if account.dual:
            if cmd.position_side is PositionSide.BOTH:
                raise errors.position_side_not_match()
            if cmd.reduce_only:
                raise errors.param_not_required("reduceonly")
        elif cmd.position_side is not PositionSide.BOTH:
            raise errors.position_side_not_match()

    def _enter(self, cmd: FuturesOrder, orig_type: FuturesOrderType, seq: int, events: list) -> None:
        """Admit one order (a new one, or a conditional one just triggered) and send it to its book."""
        symbol = cmd.symbol
        contract = self.contracts[symbol]
        book = self.books[symbol]
        account = self.account(cmd.account)
        leg = account.leg(symbol, cmd.position_side)
        is_buy = cmd.side is Side.BUY
        market = cmd.type in (FuturesOrderType.MARKET, FuturesOrderType.STOP_MARKET,
                              FuturesOrderType.TAKE_PROFIT_MARKET, FuturesOrderType.TRAILING_STOP_MARKET)
        closing = cmd.reduce_only or cmd.close_position or (
            account.dual and (leg.position.side is PositionSide.LONG) != is_buy)
        qty = cmd.qty
        if closing:
            closable = reduce_only_cap(leg.position, is_buy) - leg.closing_qty
            if closable <= 0:
                raise errors.reduce_only_rejected()
            if cmd.close_position or (cmd.reduce_only and qty > closable):
                qty = closable  # reduce-only is reduced to what the position can close
            elif qty > closable:
                raise errors.reduce_only_rejected()  # a hedge leg closes, it never flips
        mark = self.mark(symbol)
        reference = self._reference_price(book, is_buy, qty) if market else cmd.price
        if not market:
            if mark is not None:
                contract.check_percent_price(cmd.price, mark)
            contract.check_notional(cmd.price, qty, reduce_only=closing)
        elif not closing and reference is not None:
            contract.check_notional(mark or reference, qty)
        best = book.book.opposite(cmd.side).best_price()
        crosses = best is not None and (market or (cmd.price >= best * book.symbol.tick if is_buy
                                                   else cmd.price <= best * book.symbol.tick))
        if cmd.tif is FuturesTimeInForce.GTX and crosses and not market:
            raise errors.post_only_rejected()
        if not market and leg.orders >= contract.max_num_orders:
            raise errors.max_open_orders_exceeded()
        if not closing and reference is not None:
            self._check_margin(account, leg, symbol, is_buy, qty, reference, mark, crosses)
        if self.reduce_only_makers.get((symbol, Side.SELL if is_buy else Side.BUY)):
            self._guard_closing_makers(symbol, cmd, qty, market, seq, events)
        working = Working(cmd, orig_type, qty, closing, cmd.ts)
        if closing:
            leg.closing_qty += qty
        self._book_command(book, working, market, mark, contract, seq, events)

    @staticmethod
    def _reference_price(book: MatchingEngine, is_buy: bool, qty: int) -> int | None:
        """The book's worst price a market order of `qty` would reach now (what its margin is priced at)."""
        symbol = book.symbol
        needed, worst = symbol.to_lots(qty), None
        for level in levels_best_first(book.book.asks if is_buy else book.book.bids):
            worst = level.price
            needed -= level.qty
            if needed <= 0:
                break
        return None if worst is None else worst * symbol.tick

    def _check_margin(self, account: acct.FuturesAccount, leg: acct.Leg, symbol: str, is_buy: bool, qty: int,
                      price: int, mark: int | None, takes: bool) -> None:
        """Pre-trade: what the order adds to its leg's requirement, plus its open loss and taker fee, must be available.

        The leg's requirement is Binance's max(|PN + bids|, |PN - asks|) / leverage,
        so an order that only closes adds nothing and is not checked.
        """
        settings = account.settings_for(symbol)
        at = mark if mark is not None else price
        value = acct.order_value(qty, price)
        before = leg.requirement(at, settings.leverage)
        after = leg.requirement(at, settings.leverage, value if is_buy else 0, 0 if is_buy else value)
        extra = after - before
        if extra <= 0:
            return
        table = self.brackets.get(symbol)
        projected = after * settings.leverage
        if projected > table.max_notional_for(settings.leverage):
            raise errors.max_leverage_ratio()
        extra += acct.open_loss(qty, price, is_buy, at)
        if takes:
            extra += fee_for(value, self.rates[1])
        if extra > self.valuation(account).available:
            raise errors.margin_insufficient()

    def _book_command(self, book: MatchingEngine, working: Working, market: bool, mark: int | None,
                      contract: PerpetualContract, seq: int, events: list) -> None:
        """The order as its book takes it: a MARKET order is an IOC limit at mark +-marketTakeBound."""
        cmd = working.cmd
        symbol = book.symbol
        is_buy = cmd.side is Side.BUY
        tif = BOOK_TIF[cmd.tif]
        if market and mark is not None:
            bound = contract.market_take_bound
            limit = mark * (RATE_ONE + bound) // RATE_ONE if is_buy else -((-mark * (RATE_ONE - bound)) // RATE_ONE)
            ticks = limit // symbol.tick if is_buy else -((-limit) // symbol.tick)
            place = PlaceOrder(cmd.order_id, cmd.account, cmd.side, OrderType.LIMIT, max(ticks, 1),
                               symbol.to_lots(working.qty), TimeInForce.IOC, stp=cmd.stp, ts=cmd.ts)
        elif market:
            place = PlaceOrder(cmd.order_id, cmd.account, cmd.side, OrderType.MARKET, None,
                               symbol.to_lots(working.qty), stp=cmd.stp, ts=cmd.ts)
        else:
            place = PlaceOrder(cmd.order_id, cmd.account, cmd.side, OrderType.LIMIT, symbol.to_ticks(cmd.price),
                               symbol.to_lots(working.qty), tif, stp=cmd.stp, ts=cmd.ts)
        working.market = market
        self._apply_book_events(cmd.symbol, book.submit(place), working, seq, events, cmd.ts)

    # ----------------------------------------------------------- book results
    def _apply_book_events(self, symbol: str, book_events: list, taker: Working | None, seq: int,
                           events: list, ts: int) -> None:
        """Turn what the book did into futures events; `taker` is the order just sent, if any."""
        book = self.books[symbol]
        if taker is not None and taker.cmd.tif is FuturesTimeInForce.FOK and not any(
                type(e) is TradeExecuted for e in book_events):
            self._release_closing(taker)  # Binance: an unfillable FOK is rejected (-5021), no trace
            error = errors.fok_rejected()
            events.append(OrderRejected(seq, symbol, taker.cmd.order_id, taker.cmd.account, error.code, error.msg))
            return
        for e in book_events:
            kind = type(e)
            if kind is TradeExecuted:
                self._fill(book, e, taker, seq, events)
            elif kind is OrderAccepted:
                if taker is not None and e.order_id == taker.cmd.order_id:
                    events.append(OrderUpdated(seq, "NEW", taker.view("NEW")))
            elif kind is OrderExpired:
                self._finish(self._working(e.order_id, taker), "EXPIRED", seq, events, ts)
            elif kind is OrderCanceled:
                self._finish(self._working(e.order_id, taker), "CANCELED", seq, events, ts)
            elif kind is BookOrderAmended:
                working = self._working(e.order_id, taker)
                self._reduce(working, book.symbol.qty_units(e.new_qty))
            elif kind is BookOrderRejected and taker is not None and e.order_id == taker.cmd.order_id:
                self._release_closing(taker)
                events.append(OrderRejected(seq, symbol, e.order_id, e.account, e.code, e.msg))
        if taker is not None and taker.cmd.order_id in book.orders and taker.cmd.order_id not in self.orders:
            self._book(taker)  # what is left rests: its footprint counts from now

    def _working(self, order_id: int, taker: Working | None) -> Working:
        if taker is not None and taker.cmd.order_id == order_id:
            return taker
        return self.orders[order_id]

    def _leg(self, working: Working) -> acct.Leg:
        cmd = working.cmd
        return self.account(cmd.account).leg(cmd.symbol, cmd.position_side)

    def _book(self, working: Working) -> None:
        cmd = working.cmd
        self.orders[cmd.order_id] = working
        self._leg(working).orders += 1
        self._footprint(working)
        if working.closing:
            key = (cmd.symbol, cmd.side)
            self.reduce_only_makers[key] = self.reduce_only_makers.get(key, 0) + 1

    def _footprint(self, working: Working, booked: bool = True) -> None:
        """A booked order adds its remaining quantity's value at its price to its leg's bids or asks."""
        leg = self._leg(working)
        value = acct.order_value(working.remaining, working.cmd.price) if booked else 0
        if working.cmd.side is Side.BUY:
            leg.bids += value - working.value
        else:
            leg.asks += value - working.value
        working.value = value

    def _reduce(self, working: Working, qty: int) -> None:
        """An amend down (a reduce-only order trimmed to its position): less to close, less footprint."""
        if working.closing:
            self._leg(working).closing_qty -= working.qty - qty
        working.qty = qty
        self._footprint(working)

    def _finish(self, working: Working, status: str, seq: int, events: list, ts: int) -> None:
        if working.cmd.order_id in self.orders:
            self._unbook(working)
        self._release_closing(working)
        working.status = status
        working.update_time = ts
        events.append(OrderUpdated(seq, status, working.view(status)))

    def _unbook(self, working: Working) -> None:
        cmd = working.cmd
        self._footprint(working, booked=False)
        del self.orders[cmd.order_id]
        self._leg(working).orders -= 1
        if working.closing:
            self.reduce_only_makers[(cmd.symbol, cmd.side)] -= 1

    def _release_closing(self, working: Working) -> None:
        """An order that ends unfilled no longer closes anything."""
        if working.closing:
            self._leg(working).closing_qty -= working.remaining

    def _fill(self, book: MatchingEngine, e: TradeExecuted, taker: Working | None, seq: int, events: list) -> None:
        symbol = book.symbol
        price, qty = e.price * symbol.tick, e.qty * symbol.lot
        notional = fill_notional(price, qty)
        maker = self.orders[e.maker_order_id]
        taker_working = self._working(e.taker_order_id, taker)
        buyer, seller = (taker_working, maker) if e.taker_side is Side.BUY else (maker, taker_working)
        events.append(FuturesTrade(seq, symbol.name, e.trade_id, price, qty, notional, buyer.cmd.order_id,
                                   seller.cmd.order_id, buyer.cmd.account, seller.cmd.account,
                                   e.taker_side is Side.SELL, e.ts))
        for working, is_maker in ((maker, True), (taker_working, False)):
            self._settle_fill(working, is_maker, e.trade_id, price, qty, notional, e.ts, seq, events)

    def _settle_fill(self, working: Working, is_maker: bool, trade_id: int, price: int, qty: int, notional: int,
                     ts: int, seq: int, events: list) -> None:
        cmd = working.cmd
        account = self.account(cmd.account)
        leg = account.leg(cmd.symbol, cmd.position_side)
        settings = account.settings_for(cmd.symbol)
        fee = fee_for(notional, self.rates[0] if is_maker else self.rates[1])
        effect = apply_fill(leg.position, cmd.side is Side.BUY, qty, price, fee)
        pnl = effect.realized_pnl
        account.wallet += pnl - fee
        working.executed += qty
        working.cum_quote += notional
        working.realized += pnl
        working.update_time = ts
        if working.closing:
            leg.closing_qty -= qty
        if leg.closing_qty > 0:
            self.moved.add((cmd.account, cmd.symbol))
        booked = cmd.order_id in self.orders
        if booked:
            self._footprint(working)
        ref = f"{cmd.symbol}:{trade_id}:{'m' if is_maker else 't'}"
        if pnl:
            events.append(WalletPosting(seq, cmd.account, "REALIZED_PNL", pnl, cmd.symbol, ref, ts))
        if fee:
            events.append(WalletPosting(seq, cmd.account, "COMMISSION", -fee, cmd.symbol, ref, ts))
        if settings.margin_type is MarginType.ISOLATED:
            self._isolated_fill(account, leg, settings.leverage, effect, price, pnl, seq, ts, events)
        filled = working.executed == working.qty
        status = "FILLED" if filled else "PARTIALLY_FILLED"
        working.status = status
        if filled and booked:
            self._unbook(working)
        events.append(OrderUpdated(seq, "TRADE", working.view(status), qty, price, trade_id, fee, pnl, is_maker))
        events.append(self._position_event(account, leg, "ORDER", seq, ts))

    def _isolated_fill(self, account, leg, leverage, effect, price, pnl, seq, ts, events) -> None:
        """An isolated leg keeps its own margin: a close settles its PnL there and gives the closed share
        of what is left back to the cross wallet; an opening fill moves its initial margin in from cross."""
        change = 0
        if effect.closed_qty:
            before = effect.closed_qty + (0 if effect.opened_qty else leg.position.qty)
            leg.isolated_wallet += pnl
            kept = leg.isolated_wallet * (before - effect.closed_qty) // before
            change += kept - (leg.isolated_wallet - pnl)
            leg.isolated_wallet = kept
        if effect.opened_qty:
            im = initial_margin(fill_notional(price, effect.opened_qty), leverage)
            leg.isolated_wallet += im
            change += im
        if change:
            events.append(IsolatedMarginMoved(seq, leg.position.symbol, account.id, str(leg.position.side), change,
                                              leg.isolated_wallet, "ORDER", ts))

    def _position_event(self, account, leg, reason: str, seq: int, ts: int) -> PositionChanged:
        p = leg.position
        settings = account.settings_for(p.symbol)
        return PositionChanged(seq, p.symbol, account.id, str(p.side), p.amount, p.cost, p.realized,
                               p.break_even_price(), str(settings.margin_type), leg.isolated_wallet, reason, ts)

    # ------------------------------------------------- closing orders in the book
    def _guard_closing_makers(self, symbol: str, taker: FuturesOrder, qty: int, market: bool, seq: int,
                              events: list) -> None:
        """Shrink or expire booked reduce-only makers this taker would fill past their position.

        The book fills makers in price-time order without looking at positions, so
        before a taker sweeps, walk what it would fill, with each maker account's
        position as the earlier fills leave it (Binance: a reduce-only order never
        increases a position; it is reduced or expired instead).
        """
        book = self.books[symbol]
        side = book.book.opposite(taker.side)
        limit = None if market else book.symbol.to_ticks(taker.price)
        left = book.symbol.to_lots(qty)
        amounts: dict[tuple[int, PositionSide], int] = {}
        is_buy = taker.side is Side.BUY
        for level in levels_best_first(side):
            price = level.price
            if left <= 0 or (limit is not None and (price > limit if is_buy else price < limit)):
                break
            for maker in list(level.orders):
                if left <= 0:
                    break
                if not maker.remaining:
                    continue
                if maker.account == taker.account and taker.stp is not StpMode.NONE:
                    if taker.stp is StpMode.EXPIRE_MAKER:
                        continue
                    return
                working = self.orders[maker.id]
                leg_key = (maker.account, working.cmd.position_side)
                position = self.account(maker.account).leg(symbol, working.cmd.position_side).position
                amount = amounts.get(leg_key, position.amount)
                fill = min(maker.remaining, left)
                if working.closing:
                    maker_buys = working.cmd.side is Side.BUY
                    closable = book.symbol.to_lots(-amount if maker_buys else amount)
                    if closable < fill:
                        self._shrink(book, working, max(0, closable), seq, events, taker.ts)
                        fill = max(0, closable)
                amounts[leg_key] = amount + book.symbol.qty_units(fill) * (1 if working.cmd.side is Side.BUY else -1)
                left -= fill

    def _shrink(self, book: MatchingEngine, working: Working, lots_left: int, seq: int, events: list,
                ts: int) -> None:
        """Reduce a booked closing order to `lots_left` unfilled (it keeps its place), or expire it."""
        cmd = working.cmd
        if lots_left <= 0:
            self._apply_book_events(cmd.symbol, book.submit(CancelOrder(cmd.order_id, cmd.account, ts)),
                                    None, seq, [], ts)
            working.status = "EXPIRED"
            events.append(OrderUpdated(seq, "EXPIRED", working.view("EXPIRED")))
            return
        new_total = book.symbol.to_lots(working.executed) + lots_left
        self._apply_book_events(cmd.symbol, book.submit(AmendOrder(cmd.order_id, cmd.account, new_total, ts)),
                                None, seq, events, ts)
        working.update_time = ts
        events.append(OrderUpdated(seq, "AMENDMENT", working.view(working.status)))

    def _trim_closing_orders(self, account: acct.FuturesAccount, symbol: str, seq: int, events: list,
                             ts: int) -> None:
        """After a position shrank: its booked closing orders may close no more than it holds."""
        book = self.books[symbol]
        for side_ in (PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT):
            leg = account.legs.get((symbol, side_))
            if leg is None or leg.closing_qty <= 0:
                continue
            closing = sorted((w for w in self.orders.values() if w.closing and w.cmd.account == account.id
                              and w.cmd.symbol == symbol and w.cmd.position_side is side_),
                             key=lambda w: -w.cmd.order_id)
            for working in closing:
                excess = leg.closing_qty - reduce_only_cap(leg.position, working.cmd.side is Side.BUY)
                if excess <= 0:
                    break
                keep = working.qty - working.executed - excess
                self._shrink(book, working, max(0, book.symbol.to_lots(keep)), seq, events, ts)

    # ------------------------------------------------------------- triggers
    def _run_triggers(self, symbol: str, ts: int, seq: int, events: list) -> None:
        """Fire what the last and mark prices now meet; then trim closing orders of positions that shrank."""
        for _ in range(MAX_TRIGGER_ROUNDS if self.conditional.per_symbol.get(symbol) else 0):
            fired = []
            last, mark = self.last_price(symbol), self.mark(symbol)
            protected_ok = self._protect_ok(symbol, last, mark)
            if last is not None:
                fired += self.conditional.fire(symbol, WorkingType.CONTRACT_PRICE, last, protected_ok)
            if mark is not None:
                fired += self.conditional.fire(symbol, WorkingType.MARK_PRICE, mark, protected_ok)
            if not fired:
                break
            for cmd in fired:
                self._trigger(cmd, ts, seq, events)
        moved, self.moved = self.moved, set()
        for account_id, name in sorted(moved):
            self._trim_closing_orders(self.accounts[account_id], name, seq, events, ts)

    def _protect_ok(self, symbol: str, last: int | None, mark: int | None) -> bool:
        if last is None or not mark:
            return True
        return abs(mark - last) * RATE_ONE <= self.contracts[symbol].trigger_protect * mark

    def _trigger(self, cmd: FuturesOrder, ts: int, seq: int, events: list) -> None:
        """A fired conditional order enters as LIMIT or MARKET, checked as a new order then."""
        works_as = FuturesOrderType.LIMIT if cmd.type.works_as_limit else FuturesOrderType.MARKET
        entered = FuturesOrder(**{**{f: getattr(cmd, f) for f in cmd.__slots__}, "type": works_as, "ts": ts})
        try:
            self._enter(entered, cmd.type, seq, events)
        except CastleError:
            view = _parked_view(cmd, "EXPIRED", cmd.ts, ts)
            events.append(OrderUpdated(seq, "EXPIRED", view))

    # --------------------------------------------------------------- cancels
    def _cancel(self, cmd: FuturesCancel, seq: int, events: list) -> None:
        parked = self.conditional.orders.get(cmd.order_id)
        if parked is not None and parked.cmd.account == cmd.account and parked.cmd.symbol == cmd.symbol:
            self.conditional.remove(cmd.order_id)
            events.append(OrderUpdated(seq, "CANCELED", _parked_view(parked.cmd, "CANCELED", parked.time, cmd.ts)))
            return
        working = self.orders.get(cmd.order_id)
        if working is None or working.cmd.account != cmd.account or working.cmd.symbol != cmd.symbol:
            raise errors.unknown_order()
        book = self.books[cmd.symbol]
        self._apply_book_events(cmd.symbol, book.submit(CancelOrder(cmd.order_id, cmd.account, cmd.ts)), None, seq,
                                events, cmd.ts)

    def _cancel_all(self, cmd: FuturesCancelAll, seq: int, events: list) -> None:
        if cmd.symbol not in self.contracts:
            raise errors.invalid_symbol()
        for parked in sorted(self.conditional.of(cmd.account, cmd.symbol), key=lambda p: p.cmd.order_id):
            self._cancel(FuturesCancel(cmd.symbol, parked.cmd.order_id, cmd.account, cmd.ts), seq, events)
        for order_id in sorted(w.cmd.order_id for w in self.orders.values()
                               if w.cmd.account == cmd.account and w.cmd.symbol == cmd.symbol):
            self._cancel(FuturesCancel(cmd.symbol, order_id, cmd.account, cmd.ts), seq, events)

    # --------------------------------------------------------- marks, funding
    def _update_marks(self, cmd: UpdateMarks, seq: int, events: list) -> None:
        for symbol in sorted(cmd.prices):
            if symbol in self.contracts:
                self.marks[symbol], self.indexes[symbol] = cmd.prices[symbol]
        for symbol in sorted(cmd.prices):
            if symbol in self.contracts:
                self._run_triggers(symbol, cmd.ts, seq, events)

    def _settle_funding(self, cmd: SettleFunding, seq: int, events: list) -> None:
        """Every open position pays or receives notional at mark x rate; the payments sum to exactly zero."""
        if cmd.symbol not in self.contracts:
            raise errors.invalid_symbol()
        mark = self.marks.get(cmd.symbol)
        if mark is None:
            raise errors.no_mark_price()
        legs = sorted(((a.id, side), leg) for a in self.accounts.values()
                      for (s, side), leg in a.legs.items() if s == cmd.symbol and leg.position.amount)
        payments = allocate([(key, leg.position.amount) for key, leg in legs], mark, cmd.rate)
        ref = f"{cmd.symbol}:{cmd.funding_time}"
        for (key, leg), payment in zip(legs, payments, strict=True):
            if not payment.amount:
                continue
            account = self.accounts[key[0]]
            account.wallet += payment.amount
            if account.settings_for(cmd.symbol).margin_type is MarginType.ISOLATED:
                leg.isolated_wallet += payment.amount
            events.append(WalletPosting(seq, account.id, "FUNDING_FEE", payment.amount, cmd.symbol, ref, cmd.ts))
        self.funding_rates[cmd.symbol] = cmd.rate
        events.append(FundingSettled(seq, cmd.symbol, cmd.rate, mark, cmd.funding_time))

    # ----------------------------------------------------- account settings
    def _configure(self, cmd, seq: int, events: list) -> None:
        apply_setting(self, cmd, seq, events)

    # ------------------------------------------------------------------- state
    def state_hash(self) -> str:
        """A digest of every account, order and book: equal after a replay of the same journal."""
        state = {
            "seq": self.seq,
            "accounts": [[a.id, a.wallet, a.dual, sorted((s, str(v.leverage), str(v.margin_type))
                                                         for s, v in a.settings.items()),
                          sorted((s, str(k), leg.position.amount, leg.position.cost, leg.position.realized,
                                  leg.isolated_wallet, leg.bids, leg.asks, leg.closing_qty, leg.orders)
                                 for (s, k), leg in a.legs.items())]
                         for a in sorted(self.accounts.values(), key=lambda a: a.id)],
            "orders": sorted([w.cmd.order_id, w.qty, w.executed, w.status] for w in self.orders.values()),
            "parked": sorted(self.conditional.orders),
            "books": {s: b.state_hash() for s, b in sorted(self.books.items())},
            "marks": sorted(self.marks.items()),
        }
        return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()

    def position_risk(self, account: acct.FuturesAccount, symbol: str, side: PositionSide) -> PositionRisk:
        leg = account.leg(symbol, side)
        settings = account.settings_for(symbol)
        return PositionRisk(leg.position, self.mark(symbol) or 0, settings.leverage, self.brackets.get(symbol),
                            settings.margin_type, leg.isolated_wallet)


def _code(error: CastleError) -> tuple[int, str]:
    return error.code, error.msg


def _parked_view(cmd: FuturesOrder, status: str, time: int, update_time: int) -> OrderView:
    return Working(cmd, cmd.type, cmd.qty or 0, False, time).view(status, update_time)

