# Cython declarations for book.py (see orders.pxd): the book's containers typed, and the methods
# the engine calls per order direct C calls.
cimport cython

cdef object heapify, heappop, heappush, nsmallest


# As Order (orders.pxd): no cycle passes through a level (its deque never points back), and
# levels come and go with every sweep, so they are recycled.
@cython.no_gc
@cython.freelist(256)
cdef class PriceLevel:
    cdef public object price, qty, orders
    cdef public long long count


cdef class BookSide:
    cdef public object side
    cdef public long long sign
    cdef public dict levels
    cdef public list heap
    cdef public set dirty

    @cython.locals(level=PriceLevel, heap=list)
    cpdef PriceLevel level_for(self, price)

    cpdef drop_level(self, price)


cdef class OrderBook:
    cdef public BookSide bids, asks
    cdef public object update_id, _flushed_id
