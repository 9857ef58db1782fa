# Cython declarations for stats.py (see orders.pxd): the engine calls these once per trade and
# per admission check, as C calls rather than attribute lookups.
cimport cython


cdef class AveragePrice:
    cdef public object minutes, buckets, last_price, num, den

    @cython.locals(bucket=list)
    cpdef record_trades(self, ts, notional, qty, last_price)

    cpdef value(self, ts)
