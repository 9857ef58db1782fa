# Cython declarations for orders.py (pure-Python mode: the .py stays the source; see
# matching_container/engine_build.py). A resting order becomes a C struct that the engine reads
# and writes without attribute lookups. Its integers stay Python ints: exact at any size, and
# not boxed anew on every read (measured faster here than int64 fields).

cimport cython


# Untracked by the cyclic GC (it holds ints, an enum and a str: no cycle can pass through it), so
# it carries no GC header and costs nothing to link or unlink; filled and canceled orders are
# recycled through a free list rather than malloc and free.
@cython.no_gc
@cython.freelist(1024)
cdef class Order:
    cdef public object id, account, side, price, qty, remaining, visible, iceberg, time, client_id


@cython.locals(order=Order)
cpdef Order resting_order(id, account, side, price, qty, remaining, iceberg, time, client_id)
