# Cython declarations for book.py (see orders.pxd): the book's containers typed, so the engine
# reaches them without attribute lookups.

cdef class PriceLevel:
    cdef public long long price, qty, count
    cdef public object orders

cdef class BookSide:
    cdef public object side
    cdef public long long sign
    cdef public dict levels
    cdef public list heap
    cdef public set dirty

cdef class OrderBook:
    cdef public BookSide bids, asks
    cdef public object update_id, _flushed_id
