"""Settlement's executionReports (the user data stream), through the real DynamoDB adapters (moto).

Each command's events are settled once, as the writer does; the reports are
what an account's listenKey receives, in Binance's shape.
"""

from __future__ import annotations

import pytest
from castle.orders import AmendOrder, OrderType, Side, StpMode, TimeInForce
from castle.settlement import fee

from matching_container.settlement import UserReport
from tests.unit.test_settlement_flow import ALICE, BOB, P, SYMBOL, TABLES, UNIT, Exchange
from tests.tables import moto_tables

EXECUTION_REPORT_KEYS = {
    "e", "E", "s", "c", "S", "o", "f", "q", "p", "P", "F", "g", "C", "x", "X", "r", "i", "l", "z", "L", "n", "N",
    "T", "t", "I", "w", "m", "M", "O", "Z", "Y", "Q", "V",
}


class MemoryStash:
    """ReportStash's contract (SET NX, then what an earlier attempt stored) without Redis."""

    def __init__(self) -> None:
        self.stored: dict[str, list[UserReport]] = {}
        self.entry_id = ""
        self.keys: list[str] = []

    def key(self, entry_id: str) -> str:
        return entry_id

    def claim(self, reports):
        self.keys.append(self.entry_id)
        if self.entry_id in self.stored:
            return [UserReport(r.account, r.order_id, dict(r.report), r.assets) for r in self.stored[self.entry_id]]
        self.stored[self.entry_id] = [UserReport(r.account, r.order_id, dict(r.report), r.assets) for r in reports]
        return None

    def publish(self) -> None:
        """The writer's MULTI: the stash of what was published is gone."""
        for key in self.keys:
            self.stored.pop(key, None)
        self.keys = []


class ReportingExchange(Exchange):
    def __init__(self, client) -> None:
        super().__init__(client)
        self.stash = self.settlement.stash = MemoryStash()
        self.entry = 0
        self.published: list[UserReport] = []

    def run(self, cmd) -> None:
        for event in self.engine.submit(cmd):
            self.entry += 1
            self.stash.entry_id = f"{self.ts}-{self.entry}"
            self.settlement.apply(event, self.ts)
        self.published += self.settlement.take_reports()
        self.stash.publish()

    def reports(self, account: int) -> list[dict]:
        return [r.report for r in self.published if r.account == account]


@pytest.fixture
def ex(monkeypatch):
    with moto_tables(monkeypatch, TABLES) as client:
        ex = ReportingExchange(client)
        ex.fund(ALICE, "USDT", 100_000 * UNIT)
        ex.fund(BOB, "BTC", 5 * UNIT)
        yield ex


def test_a_resting_order_reports_new_with_every_binance_field(ex):
    oid = ex.place(ALICE, Side.BUY, price=P, qty=1000)
    [report] = ex.reports(ALICE)
    assert EXECUTION_REPORT_KEYS <= set(report)
    assert (report["e"], report["x"], report["X"], report["i"], report["c"]) == (
        "executionReport", "NEW", "NEW", oid, f"c{oid}")
    assert (report["s"], report["S"], report["o"], report["f"]) == ("BTCUSDT", "BUY", "LIMIT", "GTC")
    assert (report["q"], report["p"], report["z"], report["l"]) == ("0.01000000", "30000.00000000", "0.00000000",
                                                                     "0.00000000")
    assert report["w"] is True and report["W"] == report["O"] and report["t"] == -1 and report["N"] is None


def test_a_trade_reports_to_both_sides_with_the_fee_in_what_each_receives(ex):
    sell = ex.place(BOB, Side.SELL, price=P, qty=1000)
    buy = ex.place(ALICE, Side.BUY, price=P, qty=400)
    maker = ex.reports(BOB)[-1]
    taker = ex.reports(ALICE)[-1]
    assert (maker["i"], maker["x"], maker["X"], maker["m"]) == (sell, "TRADE", "PARTIALLY_FILLED", True)
    assert (taker["i"], taker["x"], taker["X"], taker["m"]) == (buy, "TRADE", "FILLED", False)
    assert maker["t"] == taker["t"] > 0
    assert (taker["l"], taker["z"], taker["L"], taker["Y"], taker["Z"]) == (
        "0.00400000", "0.00400000", "30000.00000000", "120.00000000", "120.00000000")
    assert (taker["N"], taker["n"]) == ("BTC", f"0.{fee(UNIT * 4 // 1000, 100_000):08d}")
    assert (maker["N"], maker["n"]) == ("USDT", f"{fee(120 * UNIT, 100_000) / UNIT:.8f}")
    assert taker["w"] is False and maker["w"] is True


def test_a_cancel_reports_canceled_with_the_original_client_order_id(ex):
    oid = ex.place(ALICE, Side.BUY, price=P, qty=1000)
    ex.cancel(ALICE, oid)
    report = ex.reports(ALICE)[-1]
    assert (report["x"], report["X"], report["C"], report["w"]) == ("CANCELED", "CANCELED", f"c{oid}", False)


def test_an_ioc_remainder_reports_expired(ex):
    ex.place(BOB, Side.SELL, price=P, qty=300)
    ex.place(ALICE, Side.BUY, price=P, qty=1000, tif=TimeInForce.IOC)
    assert [(r["x"], r["X"], r["z"]) for r in ex.reports(ALICE)] == [
        ("NEW", "NEW", "0.00000000"), ("TRADE", "PARTIALLY_FILLED", "0.00300000"), ("EXPIRED", "EXPIRED", "0.00300000")]


def test_a_prevented_self_trade_reports_trade_prevention_with_the_prevented_quantity(ex):
    ex.fund(ALICE, "BTC", UNIT)
    ex.place(ALICE, Side.SELL, price=P, qty=500)
    ex.place(ALICE, Side.BUY, price=P, qty=500, stp=StpMode.EXPIRE_TAKER)
    report = ex.reports(ALICE)[-1]
    assert (report["x"], report["X"], report["V"]) == ("TRADE_PREVENTION", "EXPIRED_IN_MATCH", "EXPIRE_TAKER")
    assert (report["A"], report["B"]) == ("0.00500000", "0.00500000")


def test_an_amend_reports_replaced_with_the_new_quantity(ex):
    oid = ex.place(ALICE, Side.BUY, price=P, qty=1000)
    ex.ts += 1
    ex.run(AmendOrder(oid, ALICE, 600, ex.ts))
    report = ex.reports(ALICE)[-1]
    assert (report["x"], report["X"], report["q"]) == ("REPLACED", "NEW", "0.00600000")


def test_a_quote_order_says_filled_on_its_last_fill_and_reports_no_empty_trade(ex):
    ex.place(BOB, Side.SELL, price=P, qty=10_000)
    ex.place(ALICE, Side.BUY, type=OrderType.MARKET, quote_qty=SYMBOL.quote_to_engine(100 * UNIT))
    reports = ex.reports(ALICE)
    assert [(r["x"], r["X"]) for r in reports] == [("NEW", "NEW"), ("TRADE", "FILLED")]
    assert reports[-1]["Q"] == "100.00000000" and reports[-1]["l"] == reports[-1]["z"]


def test_a_triggered_stop_reports_new_again_now_working(ex):
    ex.fund(BOB, "USDT", 100_000 * UNIT)
    ex.place(ALICE, Side.BUY, price=P, qty=100)
    stop = ex.place(ALICE, Side.BUY, type=OrderType.STOP_LOSS_LIMIT, price=P + 200, stop_price=P + 100, qty=100,
                    tif=TimeInForce.GTC)
    ex.place(BOB, Side.SELL, price=P, qty=100)  # trades at P: nothing triggers yet
    assert [r["w"] for r in ex.reports(ALICE) if r["i"] == stop] == [False]
    ex.place(BOB, Side.SELL, price=P + 100, qty=50)
    ex.place(ALICE, Side.BUY, price=P + 100, qty=50)  # last price P + 100: the stop triggers
    triggered = [r for r in ex.reports(ALICE) if r["i"] == stop]
    assert (triggered[1]["x"], triggered[1]["w"], triggered[1]["o"]) == ("NEW", True, "STOP_LOSS_LIMIT")
    assert triggered[1]["W"] >= triggered[0]["O"]


def test_an_order_the_engine_rejects_gets_no_report(ex):
    ex.place(BOB, Side.SELL, price=P, qty=500)
    before = len(ex.reports(ALICE))
    ex.place(ALICE, Side.BUY, type=OrderType.LIMIT_MAKER, price=P, qty=500)
    assert len(ex.reports(ALICE)) == before


def test_a_redelivery_after_the_write_publishes_the_first_attempts_reports(ex):
    """A crash between DynamoDB and the publishing MULTI: the records moved on, the stash did not."""
    ex.place(BOB, Side.SELL, price=P, qty=300)
    ex.place(BOB, Side.SELL, price=P, qty=300)
    ex.ts += 1
    from castle.orders import PlaceOrder

    cmd = PlaceOrder(ex.next_id, ALICE, Side.BUY, price=P, qty=1000, ts=ex.ts)
    ex.next_id += 1
    hold = SYMBOL.quote_units(P * 1000)
    from castle.ledger import hold as hold_entry
    from castle.order_records import OrderRecord

    ex.orders.create_pending(OrderRecord.pending(cmd, SYMBOL.name, "crash", "USDT", hold),
                             hold_entry(f"hold:{cmd.order_id}", str(ALICE), "USDT", hold, ex.ts))
    events = ex.engine.submit(cmd)
    for i, event in enumerate(events):  # first attempt: every write lands, then the process dies
        ex.stash.entry_id = f"e{i}"
        ex.settlement.apply(event, ex.ts)
    first = ex.settlement.take_reports()
    ex.stash.keys = []
    for i, event in enumerate(events):  # the redelivery finds every write done
        ex.stash.entry_id = f"e{i}"
        ex.settlement.apply(event, ex.ts)
    again = ex.settlement.take_reports()
    assert [r.report for r in again] == [r.report for r in first]
    assert [(r.report["X"], r.report["z"]) for r in again if r.account == ALICE] == [
        ("NEW", "0.00000000"), ("PARTIALLY_FILLED", "0.00300000"), ("PARTIALLY_FILLED", "0.00600000")]


def test_a_redelivery_of_published_reports_publishes_nothing(ex):
    oid = ex.place(ALICE, Side.BUY, price=P, qty=1000)
    ex.cancel(ALICE, oid)
    published = len(ex.published)
    ex.stash.entry_id = "again"
    from castle.events import OrderCanceled

    assert ex.settlement.apply(OrderCanceled(99, oid, ALICE, 1000, ex.ts), ex.ts) == "repeated"
    assert ex.settlement.take_reports() == [] and len(ex.published) == published


def test_settlement_reads_an_order_once_then_works_from_what_it_wrote(ex):
    reads = []
    real_get = ex.orders.get
    ex.orders.get = lambda *key: reads.append(key) or real_get(*key)
    sell = ex.place(BOB, Side.SELL, price=P, qty=1000)
    buy = ex.place(ALICE, Side.BUY, price=P, qty=400)
    ex.cancel(BOB, sell)
    assert sorted(reads) == [(ALICE, "BTCUSDT", buy), (BOB, "BTCUSDT", sell)]  # at their OrderAccepted
    assert ex.order(BOB, sell).status.value == "CANCELED" and ex.balance(BOB, "BTC") == (5 * UNIT - 400_000, 0)
