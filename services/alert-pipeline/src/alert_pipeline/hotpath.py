"""The engine of the ingest hot path: one call per batch of raw records.

``Engine.process`` (the compiled core, ``utm_core.Engine``) takes the raw values of a batch and returns
the per-batch benign counts, the records that are threats (decoded and classified) and the rejected
ones, so that no Python runs for a benign record.
"""

from typing import Any, Protocol

from alert_pipeline import core

# (identity, hour start in epoch seconds, counter name) → records.
CountKey = tuple[str, int, str]
# (category code, severity 0-3, blocked, rule ID).
Outcome = tuple[str, int, bool, int]


class BatchOutcome(Protocol):
    """What ``Engine.process`` returns for a batch (``utm_core.Batch``)."""

    @property
    def events(self) -> int: ...
    @property
    def counts(self) -> dict[CountKey, int]: ...
    @property
    def threats(self) -> list[tuple[int, dict[str, Any], Outcome]]: ...
    @property
    def rejects(self) -> list[tuple[int, str, str]]: ...
    @property
    def seen(self) -> dict[str, int]: ...
    @property
    def aliases(self) -> list[tuple[str, str, str]]: ...


class Engine(Protocol):
    """The batch interface of ``utm_core.Engine``."""

    def process(
        self,
        values: list[bytes | None],
        timestamps_ms: list[int],
        now_ms: int,
        max_record_bytes: int,
        max_json_depth: int,
    ) -> BatchOutcome: ...


def identity_of(serial: str, device_name: str, sender: str) -> str:
    """How a record names its unit: the serial, else ``devname:…`` or ``sender:…``."""
    if serial:
        return serial
    if device_name:
        return f"devname:{device_name}"
    if sender:
        return f"sender:{sender}"
    return ""


def make_engine(rules_text: str | None = None, formats_text: str | None = None) -> Engine:
    """The compiled core for a rules text and a formats text (default: the packaged files)."""
    engine: Engine = core.engine(rules_text, formats_text)
    return engine
