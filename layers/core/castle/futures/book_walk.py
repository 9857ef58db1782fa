"""The levels of one side of a book, best first, read lazily off its heap.

A taker's margin is priced at the worst level it would reach, and the
reduce-only guard walks what a taker would fill: both stop after a few levels,
so sorting the whole side (thousands of levels) per order would cost more
than the match. A best-first walk over the heap's array (pop an index, push
its two children) yields keys in order in O(k log k) for the first k, without
touching the book. Stale keys (levels gone) and duplicates are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from heapq import heappop, heappush


def levels_best_first(side) -> Iterator:
    heap, levels, sign = side.heap, side.levels, side.sign
    if not heap:
        return
    frontier = [(heap[0], 0)]
    seen: set[int] = set()
    size = len(heap)
    while frontier:
        key, i = heappop(frontier)
        for child in (2 * i + 1, 2 * i + 2):
            if child < size:
                heappush(frontier, (heap[child], child))
        if key in seen:
            continue
        seen.add(key)
        level = levels.get(key * sign)
        if level is not None:
            yield level
