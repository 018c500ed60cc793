"""Top-N material kept in the hourly counter documents: signatures, internal sources, blocked destinations.

Each stored threat adds one to ``top.sig.<signature>``, ``top.src.<source host>`` and, when the UTM
blocked it, ``top.dst.<destination>`` in its unit-hour counter document, through the same ``$inc`` as
the category counts (so the ingest's exactness covers them). Keys are escaped to be valid MongoDB
field names; a batch adds at most ``MAX_KEYS_PER_BATCH`` distinct keys per dimension and document,
the rest goes to the ``OTHERS`` bucket.
"""

from collections.abc import Mapping, MutableMapping
from typing import Any, Final

from shared.labels import action_label

TOP_FIELD: Final = "top"
DIMENSIONS: Final = ("sig", "src", "dst")
OTHERS: Final = "~others"
MAX_KEYS_PER_BATCH: Final = 50
MAX_KEY_LENGTH: Final = 200
BLOCKED_WORD: Final = action_label("blocked")


def field_name(value: str) -> str:
    """Any string as a MongoDB field name: no dots, no ``$``, reversible with ``unescape_key``."""
    return value.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def escape_key(value: str) -> str:
    """A top-N value as a field name: trimmed, at most ``MAX_KEY_LENGTH`` characters."""
    return field_name(value.strip()[:MAX_KEY_LENGTH])


def unescape_key(key: str) -> str:
    """The original value of an escaped key."""
    return key.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def top_values(alert: Mapping[str, Any]) -> dict[str, str]:
    """The top-N keys one stored alert counts under (dimension → raw value)."""
    values = {"sig": str(alert.get("signature") or ""), "src": str(alert.get("source") or "")}
    if action_label(str(alert.get("action") or "")) == BLOCKED_WORD:
        values["dst"] = str(alert.get("destination") or "")
    return {dim: value for dim, value in values.items() if value.strip()}


def add_top_counts(fields: MutableMapping[str, int], alert: Mapping[str, Any]) -> None:
    """Add one alert's top-N counts to a counter document's ``$inc`` map (bounded per batch)."""
    for dim, value in top_values(alert).items():
        path = f"{TOP_FIELD}.{dim}.{escape_key(value)}"
        if path not in fields:
            prefix = f"{TOP_FIELD}.{dim}."
            if sum(1 for f in fields if f.startswith(prefix)) >= MAX_KEYS_PER_BATCH:
                path = f"{prefix}{OTHERS}"
        fields[path] = fields.get(path, 0) + 1
