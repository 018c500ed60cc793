"""The engine of the ingest hot path: one call per batch of raw records.

``Engine.process`` (the compiled core, ``utm_core.Engine``) takes the raw values of a batch and returns
the per-batch benign counts, the records that are threats (decoded and classified) and the rejected
ones, so that no Python runs for a benign record.
"""

import utm_core
from alert_pipeline import core

# (identity, hour start in epoch seconds, counter name) → records.
CountKey = tuple[str, int, str]
# (category code, severity 0-3, blocked, rule ID).
Outcome = tuple[str, int, bool, int]
# The engine and what its ``process`` returns for a batch: described once, by the core's type stubs
# (crates/utm-core/utm_core.pyi).
Engine = utm_core.Engine
BatchOutcome = utm_core.Batch


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
