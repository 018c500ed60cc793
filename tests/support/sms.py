"""Reading the text messages the notifier's development SMS backend wrote into its outbox folder.

Each message is a JSON file ``{"to", "body", "sent_at", "message_id"}``.
"""

import json
import os
import time
from pathlib import Path
from typing import Any


def read_all_sms(outbox: str | Path | None = None) -> list[dict[str, Any]]:
    """Every message of the outbox, oldest first; ``None`` reads $SMS_OUTBOX_DIR."""
    root = Path(outbox or os.environ["SMS_OUTBOX_DIR"])
    if not root.is_dir():
        return []
    messages = []
    for path in sorted(root.glob("*.json")):  # names start with the UTC send time
        try:
            messages.append(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            continue
    return messages


def wait_for_sms(
    outbox: str | Path | None = None, *, to: str | None = None, timeout: float = 30
) -> dict[str, Any]:
    """The newest message to ``to`` (digits as given to the notifier), waiting up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in read_all_sms(outbox) if to is None or m.get("to") == to]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            raise TimeoutError(f"no SMS to {to!r} within {timeout}s")
        time.sleep(0.1)
