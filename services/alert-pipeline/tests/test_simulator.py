"""The simulator: every vendor format decodes, and the pipeline's rules agree with what it intends."""

import io
import itertools
import json

import pytest

from alert_pipeline.parsing import parse_record
from alert_pipeline.simulator import FORMATS, catalogued_events, events, fortigate_line, json_event

SERIALS = ["FGT60FTK2209X001", "C01001K9XR7F2A", "013201004512"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_record_reaches_the_outcome_the_simulator_intends(fmt: str) -> None:
    seen: set[tuple[str, int]] = set()
    for sent in itertools.islice(
        catalogued_events(SERIALS, threat_ratio=0.5, fmt=fmt, heartbeat_every=25, seed=11), 1500
    ):
        event = parse_record(sent.record)
        assert event.serial_number == sent.serial, sent.record
        assert (event.outcome.category.key, event.outcome.severity) == (sent.category, sent.severity), (
            sent.record
        )
        seen.add((sent.category, sent.severity))
    # The mix holds alerts of every severity and events that are no alert.
    assert {s for _, s in seen} == {0, 1, 2, 3}


def test_mixed_uses_every_vendor_format() -> None:
    formats = {s.format for s in itertools.islice(catalogued_events(SERIALS, seed=3), 300)}
    assert formats == {"fortigate", "sophos", "paloalto", "cef", "json"}


def test_recorded_lines_are_json_with_the_intended_outcome() -> None:
    sent = next(catalogued_events(SERIALS, threat_ratio=1.0, fmt="paloalto", seed=5))
    line = json.loads(io.StringIO(sent.as_json() + "\n").readline())
    assert line["format"] == "paloalto"
    assert line["serial"] == SERIALS[0]
    assert line["severity"] in (0, 1, 2, 3)
    assert line["record"].encode() == sent.record


def test_legacy_helpers_still_make_one_record() -> None:
    import random
    from datetime import UTC, datetime

    rng, now = random.Random(1), datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_record(fortigate_line(SERIALS[0], "botnet", rng, now)).outcome.category.key == "botnet"
    assert parse_record(json_event(SERIALS[0], "heartbeat", rng, now)).kind == "system"
    serial, _kind, record = next(events(SERIALS, fmt="json", seed=1))
    assert (serial, parse_record(record).serial_number) == (SERIALS[0], SERIALS[0])


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        next(catalogued_events(SERIALS, fmt="netscreen"))
