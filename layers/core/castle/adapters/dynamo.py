"""Small helpers every DynamoDB adapter shares."""

from __future__ import annotations

from collections.abc import Callable, Iterator


def paginate(call: Callable[..., dict], kwargs: dict) -> Iterator[dict]:
    """Every item of a Query or Scan, following LastEvaluatedKey."""
    while True:
        page = call(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}
