"""Helpers of the Kafka handler tests (FastStream's TestKafkaBroker, no Kafka server)."""

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.kafka import KafkaBroker

from shared.topics import DEAD_LETTER


class UseCases:
    """Stands in for a service's use-case object: every awaited method is recorded as (name, argument).

    ``answers`` gives what a method returns (None otherwise).
    """

    def __init__(self, **answers: Any) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._answers = answers

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)

        async def use_case(argument: Any) -> Any:
            self.calls.append((name, argument))
            return self._answers.get(name)

        return use_case


def collect_dead_letters(broker: KafkaBroker) -> list[dict[str, Any]]:
    """The dead letters ``broker`` publishes, as a list filled while the test runs."""
    letters: list[dict[str, Any]] = []

    @broker.subscriber(DEAD_LETTER, group_id="dead-letter-reader")
    async def on_dead_letter(letter: dict[str, Any]) -> None:
        letters.append(letter)

    return letters
