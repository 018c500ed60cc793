"""The engine of the ingest hot path: one call per batch of raw records.

``Engine.process`` takes the raw values of a batch and returns the per-batch benign counts, the
records that are threats (decoded and classified) and the rejected ones, so that no Python runs for
a benign record. The compiled core (``utm_core.Engine``) is used when it is installed;
``ReferenceEngine`` is the same interface written in Python on top of ``alert_pipeline.decoders``
and ``alert_pipeline.classifier``, the checks in the order the ingest always made them.
"""

import importlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from alert_pipeline.classifier import Classifier
from alert_pipeline.decoders import DecodeError, NeutralEvent, decode

# A device clock before this, or later than a day ahead, is not believed: the broker's time is used.
EARLIEST_PLAUSIBLE_US = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
CLOCK_AHEAD_MS = 24 * 3600 * 1000

# (identity, hour start in epoch seconds, counter name) → records.
CountKey = tuple[str, int, str]
# (category code, severity 0-3, blocked, rule ID).
Outcome = tuple[str, int, bool, int]

_SERIAL = re.compile(r"[\x21-\x7e]{1,64}")
_BRACKETS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


@dataclass(slots=True)
class ReferenceBatch:
    """``utm_core.Batch`` in Python."""

    events: int = 0
    counts: dict[CountKey, int] = field(default_factory=dict)
    threats: list[tuple[int, dict[str, Any], Outcome]] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    aliases: list[tuple[str, str, str]] = field(default_factory=list)


def identity_of(serial: str, device_name: str, sender: str) -> str:
    """How a record names its unit: the serial, else ``devname:…`` or ``sender:…``."""
    if serial:
        return serial
    if device_name:
        return f"devname:{device_name}"
    if sender:
        return f"sender:{sender}"
    return ""


def exceeds_json_depth(raw: bytes, limit: int) -> bool:
    """True when brackets outside JSON strings nest deeper than ``limit`` (checked before decoding)."""
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return False
    depth = 0
    for match in _BRACKETS.finditer(raw):
        token = match.group()
        if token in (b"{", b"["):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"}", b"]"):
            depth -= 1
    return False


class _Rejected(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ReferenceEngine:
    """``utm_core.Engine`` written in Python: the decoders and rules of this package, per record.

    ``formats`` (the vendor field maps of the compiled core) is not read: the Python decoders hold
    their field maps in code.
    """

    def __init__(self, rules: str, formats: str = "") -> None:
        self.classifier = Classifier.from_toml(rules)
        self.formats = formats

    def decode(self, raw: bytes, sender: str = "") -> dict[str, Any]:
        """The decoded event as a dict; ``DecodeError`` when no decoder understands it."""
        return _as_dict(decode(raw, sender=sender or None))

    def classify(self, event: dict[str, Any]) -> Outcome:
        """(category code, severity, blocked, rule ID) of a dict shaped as ``decode`` returns."""
        fields = {k: v for k, v in event.items() if k in _NEUTRAL_FIELDS}
        fields["occurred_at"] = _EPOCH + timedelta(microseconds=int(event.get("occurred_at", 0)))
        outcome = self.classifier.classify(NeutralEvent(**fields))
        return outcome.category.key, outcome.severity, outcome.blocked, outcome.rule_id

    def process(
        self,
        values: list[bytes | None],
        timestamps_ms: list[int],
        now_ms: int,
        max_record_bytes: int,
        max_json_depth: int,
    ) -> ReferenceBatch:
        """Check, decode and classify every record of a batch."""
        batch = ReferenceBatch(events=len(values))
        latest_us = (now_ms + CLOCK_AHEAD_MS) * 1000
        aliases: dict[tuple[str, str, str], None] = {}
        for index, raw in enumerate(values):
            try:
                event = self._accept(raw, max_record_bytes, max_json_depth)
            except _Rejected as exc:
                batch.rejects.append((index, exc.code, exc.reason))
                continue
            moment = _micros(event.occurred_at)
            if not EARLIEST_PLAUSIBLE_US <= moment <= latest_us:
                # A unit whose clock was reset still reports real threats: the broker's time is kept.
                event.fields = {**event.fields, "device_time": event.occurred_at.isoformat()}
                stamp = timestamps_ms[index] if index < len(timestamps_ms) else 0
                moment = (stamp if stamp > 0 else now_ms) * 1000
                event.occurred_at = _EPOCH + timedelta(microseconds=moment)
            identity = identity_of(event.serial, event.device_name, event.sender)
            outcome = self.classifier.classify(event)
            if outcome.severity == 0:
                key = (identity, moment // 3_600_000_000 * 3600, f"benign.{outcome.category.key}")
                batch.counts[key] = batch.counts.get(key, 0) + 1
            else:
                threat = (outcome.category.key, outcome.severity, outcome.blocked, outcome.rule_id)
                batch.threats.append((index, _as_dict(event), threat))
            if batch.seen.get(identity, -1) < moment:
                batch.seen[identity] = moment
            if event.serial:
                aliases[(event.serial, event.device_name, event.sender)] = None
        batch.aliases = list(aliases)
        return batch

    def _accept(self, raw: bytes | None, max_record_bytes: int, max_json_depth: int) -> NeutralEvent:
        if raw is None:
            raise _Rejected("empty", "no record body")
        if not raw:
            raise _Rejected("empty", "empty record")
        if len(raw) > max_record_bytes:
            raise _Rejected("too-large", f"record of {len(raw)} bytes exceeds {max_record_bytes}")
        if exceeds_json_depth(raw, max_json_depth):
            raise _Rejected("too-deep", f"nesting deeper than {max_json_depth}")
        if not raw.isascii():
            # Bytes that are not UTF-8 are replaced, not a reason to drop the event.
            raw = raw.decode(errors="replace").encode()
        try:
            event = decode(raw)
        except DecodeError as exc:
            raise _Rejected("unparseable", exc.reason) from exc
        except Exception as exc:  # the decoders promise DecodeError only; never trusted blindly
            raise _Rejected("unparseable", f"undecodable record ({type(exc).__name__})") from exc
        if event.serial:
            if not _SERIAL.fullmatch(event.serial):
                raise _Rejected("invalid-field", "serial number is not 1-64 printable ASCII characters")
        elif not (event.device_name or event.sender):
            raise _Rejected("invalid-field", "no serial number, device name or sending host")
        return event


_NEUTRAL_FIELDS = frozenset(NeutralEvent.__dataclass_fields__)


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _as_dict(event: NeutralEvent) -> dict[str, Any]:
    return {
        "vendor": event.vendor,
        "format": event.format,
        "occurred_at": _micros(event.occurred_at),
        "kind": event.kind,
        "subtype": event.subtype,
        "serial": event.serial,
        "device_name": event.device_name,
        "sender": event.sender,
        "action": event.action,
        "level": event.level,
        "signature": event.signature,
        "group": event.group,
        "src_ip": event.src_ip,
        "dst_ip": event.dst_ip,
        "url": event.url,
        "user": event.user,
        "message": event.message,
        "event_key": event.event_key,
        "fields": dict(event.fields),
    }


def make_engine(rules_text: str, formats_text: str = "") -> Engine:
    """The compiled core when it is installed, else the reference engine."""
    try:
        core = importlib.import_module("utm_core")
    except ImportError:
        return ReferenceEngine(rules_text, formats_text)
    engine: Engine = core.Engine(rules_text, formats_text)
    return engine
