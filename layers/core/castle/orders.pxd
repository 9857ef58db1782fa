# Cython declarations for orders.py (pure-Python mode: the .py stays the source; see
# matching_container/engine_build.py). A resting order keeps its integers inline as int64, so
# a fill reads one object instead of chasing six: exact still (a value beyond int64 raises
# OverflowError, never wraps), and prices, lots and ids are far inside that range.

cdef class Order:
    cdef public object id, account, side, price, qty, remaining, visible, iceberg, time, client_id
