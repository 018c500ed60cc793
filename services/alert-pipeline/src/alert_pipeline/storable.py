"""What MongoDB can store: documents made of records' values are normalised, then checked, per record.

BSON has no integers over 64 bits, no NUL in keys, and field names starting with ``$`` or holding
``.`` are ambiguous in queries; a datetime must be timezone-aware. Values that cannot be kept as
they are become strings; what still cannot be encoded is refused for that record alone.
"""

from datetime import datetime
from typing import Any

import bson

from alert_pipeline.ingest_errors import RecordRejected

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 8
MAX_STRING = 8192
MAX_KEYS = 256
MAX_DOCUMENT_BYTES = 1024 * 1024


class StorableError(RecordRejected):
    """A document that cannot be stored even after normalisation."""

    def __init__(self, reason: str) -> None:
        super().__init__("unstorable", reason)


def normalise(value: Any, depth: int = 0) -> Any:
    """``value`` with every part made storable (a dict stays a dict, odd values become strings)."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.isoformat()
    if isinstance(value, bytes | bytearray):
        return _text(bytes(value).decode(errors="replace"))
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:MAX_KEYS]
        return {_key(k): normalise(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple):
        return [normalise(v, depth + 1) for v in value[:MAX_KEYS]]
    return _text(repr(value))


def check_storable(doc: dict[str, Any]) -> None:
    """Raise ``StorableError`` unless ``doc`` encodes as BSON within the size the pipeline allows."""
    try:
        encoded = bson.encode(doc)
    except Exception as exc:
        raise StorableError(f"not storable: {type(exc).__name__}: {exc}") from exc
    if len(encoded) > MAX_DOCUMENT_BYTES:
        raise StorableError(f"document of {len(encoded)} bytes exceeds {MAX_DOCUMENT_BYTES}")


def _text(value: str) -> str:
    if "\x00" in value:
        value = value.replace("\x00", "")
    if len(value) > MAX_STRING:
        value = value[:MAX_STRING]
    # Lone surrogates (from JSON \ud800 escapes) cannot be encoded as UTF-8.
    return value.encode("utf-8", errors="replace").decode("utf-8")


def _key(key: Any) -> str:
    text = _text(key if isinstance(key, str) else str(key)) or "_"
    if text.startswith("$"):
        text = "_" + text[1:]
    return text.replace(".", "_")
