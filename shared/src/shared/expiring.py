"""A bounded map whose values are kept until a deadline of their own (the services' short caches)."""

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringMap(Generic[K, V]):
    """At most ``size`` values, each until its own deadline.

    When full, the expired values go first, then all the others: a put is never refused, and the
    newest value is always kept.
    """

    def __init__(self, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: dict[K, tuple[float, V]] = {}
        self._size = size
        self._clock = clock

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None or item[0] <= self._clock():
            self._items.pop(key, None)
            return None
        return item[1]

    def put(self, key: K, value: V, seconds: float) -> None:
        """Keep ``value`` for ``seconds`` (none at all when ``seconds`` ≤ 0)."""
        now = self._clock()
        if seconds <= 0:
            self._items.pop(key, None)
            return
        if len(self._items) >= self._size and key not in self._items:
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            if len(self._items) >= self._size:
                self._items.clear()
        self._items[key] = (now + seconds, value)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
