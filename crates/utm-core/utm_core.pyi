"""Type stubs of the compiled core of the alert pipeline (see crates/utm-core/src/lib.rs)."""

from typing import Any

MAX_PAIRS: int

class DecodeError(ValueError):
    reason: str
    def __init__(self, reason: str) -> None: ...

class Batch:
    """What ``Engine.process`` returns for a batch: ``counts`` by (identity, hour start in epoch
    seconds, counter name); ``threats`` as (index in the batch, decoded event, (category code,
    severity 0-3, blocked, rule ID)); ``rejects`` as (index, code, reason)."""

    @property
    def events(self) -> int: ...
    @property
    def counts(self) -> dict[tuple[str, int, str], int]: ...
    @property
    def threats(self) -> list[tuple[int, dict[str, Any], tuple[str, int, bool, int]]]: ...
    @property
    def rejects(self) -> list[tuple[int, str, str]]: ...
    @property
    def seen(self) -> dict[str, int]: ...
    @property
    def aliases(self) -> list[tuple[str, str, str]]: ...

class Engine:
    def __init__(self, rules: str, formats: str) -> None: ...
    def decode(self, raw: bytes, sender: str = "") -> dict[str, object]: ...
    def classify(self, event: dict[str, object]) -> tuple[str, int, bool, int]: ...
    def process(
        self,
        values: list[bytes | None],
        timestamps_ms: list[int],
        now_ms: int,
        max_record_bytes: int,
        max_json_depth: int,
    ) -> Batch: ...

class SyslogMessage:
    body: str
    priority: int | None
    hostname: str
    app: str
    header: str
    timestamp: str

def tokenize(line: str) -> tuple[dict[str, str], int]: ...
def split_header(text: str) -> SyslogMessage: ...
def cef_extension(text: str) -> dict[str, str]: ...
