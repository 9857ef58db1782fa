# Cython declarations for stats.py (see orders.pxd): the engine calls these once per trade and
# per admission check, as C calls rather than attribute lookups.
cimport cython

cdef long long _MINUTE


cdef class AveragePrice:
    cdef public long long minutes
    cdef public object buckets, last_price, num, den

    # Timestamps are milliseconds, far inside 64 bits: their minute is C arithmetic (with Python's
    # floor semantics, cdivision off), not a division of Python ints. The sums stay Python ints.
    @cython.locals(bucket=list, minute=cython.longlong)
    cpdef record_trades(self, long long ts, notional, qty, last_price)

    @cython.locals(first=cython.longlong)
    cpdef value(self, long long ts)
