# Cython declarations for matching.py (see orders.pxd). The hot path's methods are cpdef (direct
# C calls inside the module, still callable from Python), its locals typed, and the module's
# constants C globals rather than dict lookups.
cimport cython

from castle.book cimport BookSide, OrderBook, PriceLevel
from castle.orders cimport Order, resting_order
from castle.stats cimport AveragePrice

cdef object BUY, SELL, LIMIT, MARKET, LIMIT_MAKER, STOP_LOSS, STOP_LOSS_LIMIT, GTC, IOC, FOK
cdef object STP_NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH, EXPIRED, EXPIRED_IN_MATCH, NO_LIMIT
cdef object heappop, heappush, OrderAccepted, OrderCanceled, OrderExpired, OrderRejected, TradeExecuted
cdef object PlaceOrder, CancelOrder, CancelReplace, AmendOrder, CancelAllOrders, STOP_TYPES, ONE
cdef long long MINUTE_MS
cdef bint COMPILED

cdef extern from *:
    """
    /* tuple.__new__(cls, fields) for a tuple subclass (a NamedTuple event), without the call
       machinery and the copy it makes first: allocate the event, then take the fields. */
    static PyObject *castle_new_event(PyObject *cls, PyObject *fields) {
        PyTypeObject *type = (PyTypeObject *)cls;
        Py_ssize_t i, n = PyTuple_GET_SIZE(fields);
        PyObject *event = type->tp_alloc(type, n);
        if (event == NULL) return NULL;
        for (i = 0; i < n; i++) {
            PyObject *field = PyTuple_GET_ITEM(fields, i);
            Py_INCREF(field);
            PyTuple_SET_ITEM(event, i, field);
        }
        return event;
    }
    """
    object _alloc_event "castle_new_event" (object cls, tuple fields)

cdef object new_event(cls, tuple fields)


@cython.final
cdef class MatchingEngine:
    cdef public object symbol, seq, trade_id, prevented_match_id
    cdef public AveragePrice avg_price
    cdef public OrderBook book
    cdef public dict orders, stops, open_count, algo_count, client_ids
    cdef public list _rise, _fall
    cdef public object _triggered
    cdef public object _max_orders, _percent_price, _percent_multipliers, _market_notional, _price_bounds

    cpdef list submit(self, command)

    @cython.locals(heap=list, levels=dict, admitted=bint)
    cpdef _place(self, cmd, seq, list events)

    @cython.locals(start=cython.longlong)
    cpdef tuple _refresh_price_bounds(self, long long ts)

    @cython.locals(market=bint, by_quote_only=bint)
    cpdef _execute(self, cmd, order_type, ts, seq, list events, oid, account, side, price, qty)

    @cython.locals(book=OrderBook, opp=BookSide, level=PriceLevel, maker=Order, heap=list, levels=dict,
                   dirty=set, by_id=dict, open_count=dict, by_qty=bint, stp_on=bint, stp_expired=bint,
                   has_stops=bint, out_of_liquidity=bint, sign=cython.longlong, gone=cython.longlong)
    cpdef tuple _match(self, oid, account, side, limit, qty, budget, stp, ts, seq, list events)

    cpdef bint _prevent(self, Order maker, PriceLevel level, taker_id, taker_left, price, stp, seq, list events)

    @cython.locals(level=PriceLevel, side=BookSide)
    cpdef _rest(self, Order order)

    cpdef _forget(self, Order order)

    @cython.locals(level=PriceLevel, side=BookSide)
    cpdef _unlink(self, Order order)

    cpdef _trigger_stops(self, last)
    cpdef _unpark(self, cmd)
    cpdef _run_triggered(self, cmd, ts, seq, list events)

    @cython.locals(order=Order)
    cpdef bint _cancel(self, cmd, seq, list events)
