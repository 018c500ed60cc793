"""Engine.process() agrees, record by record, with decode() + Classifier.classify() over the simulator's
output in every vendor format (the batch path and the per-record path are one implementation)."""

import itertools
from datetime import UTC, datetime

import pytest

from alert_pipeline.classifier import Classifier
from alert_pipeline.core import engine
from alert_pipeline.decoders import DecodeError, decode
from alert_pipeline.simulator import FORMATS, events

SERIALS = [f"FGT60FTK22{i:06d}" for i in range(7)]
CLASSIFIER = Classifier.load()
HOUR_S = 3600


def _identity(serial: str, device_name: str, sender: str) -> str:
    return serial or (f"devname:{device_name}" if device_name else f"sender:{sender}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_process_agrees_with_decode_and_classify(fmt: str) -> None:
    records = [r for _, _, r in itertools.islice(events(SERIALS, fmt=fmt, seed=11, threat_ratio=0.3), 400)]
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    batch = engine().process(list(records), [0] * len(records), now_ms, 65536, 16)

    expected_counts: dict[tuple[str, int, str], int] = {}
    expected_threats: list[tuple[int, str, int, bool, int]] = []
    expected_rejects: list[int] = []
    for index, raw in enumerate(records):
        try:
            event = decode(raw)
        except DecodeError:
            expected_rejects.append(index)
            continue
        outcome = CLASSIFIER.classify(event)
        if outcome.severity == 0:
            hour = int(event.occurred_at.timestamp()) // HOUR_S * HOUR_S
            key = (
                _identity(event.serial, event.device_name, event.sender),
                hour,
                f"benign.{outcome.category.key}",
            )
            expected_counts[key] = expected_counts.get(key, 0) + 1
        else:
            expected_threats.append(
                (index, outcome.category.key, outcome.severity, outcome.blocked, outcome.rule_id)
            )
            core_event = next(e for i, e, _ in batch.threats if i == index)
            assert core_event["event_key"] == event.event_key
            assert core_event["fields"] == event.fields
            assert core_event["signature"] == event.signature
            assert core_event["occurred_at"] == round(event.occurred_at.timestamp() * 1_000_000)

    assert expected_rejects == []  # the simulator writes valid records only
    assert [i for i, _, _ in batch.rejects] == expected_rejects
    assert batch.counts == expected_counts
    assert [(i, *outcome) for i, _, outcome in batch.threats] == expected_threats
    assert sum(batch.counts.values()) + len(batch.threats) == len(records)
    # The simulator's mix holds threats and benign records in every format.
    assert expected_threats
    assert expected_counts
