"""The filters a MongoDB client sends, for tests that a query stays one an index serves on any server.

SecantusDB (the development database) answers a filter with ``$or`` anywhere at its top level by
reading every document of the collection, ``_id`` given or not; MongoDB splits it. A store whose
collection grows with time (deliveries, alert groups, units) keeps its filters free of it.
"""

from collections.abc import Iterator
from typing import Any

from pymongo import monitoring


class FilterLog(monitoring.CommandListener):
    """Every filter the client sends (find, count, distinct, update, findAndModify, delete), with the
    collection it was sent to."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command, name = event.command, event.command_name
        if name in ("find", "findAndModify", "count", "distinct"):
            self.sent.append((command[name], dict(command.get("filter", command.get("query", {})))))
        elif name in ("update", "delete"):
            for statement in command.get("updates", command.get("deletes", [])):
                self.sent.append((command[name], dict(statement["q"])))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def with_or(self, collection: str | None = None) -> list[dict[str, Any]]:
        """The filters (of ``collection``, or of all) holding an ``$or`` at any depth."""
        return [f for c, f in self.sent if collection in (None, c) and "$or" in operators(f)]


def operators(value: Any) -> Iterator[str]:
    """The ``$`` operators anywhere in a filter."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.startswith("$"):
                yield key
            yield from operators(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from operators(inner)
