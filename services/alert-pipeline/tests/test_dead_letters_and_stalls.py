"""The bounded dead letter every consumer sends, and the stall detector behind readiness."""

import hashlib
import json

from alert_pipeline.lag import StallDetector
from shared.deadletter import dead_letter


def test_a_dead_letter_of_a_1_mb_record_keeps_16_kib_and_describes_the_rest() -> None:
    original = b"x" * 1_000_000 + b"\xff"
    letter = dead_letter(
        service="alert-pipeline", reason_code="too-large", reason="record of 1000001 bytes exceeds 65536",
        payload=original, source_topic="utm-events", partition=4, offset=1234, key=b"FGT60F\xff",
    )  # fmt: skip

    assert letter.payload == "x" * 16384
    assert letter.payload_truncated is True
    assert letter.original_size == 1_000_001
    assert letter.sha256 == hashlib.sha256(original).hexdigest()
    assert (letter.source_topic, letter.partition, letter.offset) == ("utm-events", 4, 1234)
    assert letter.key == "FGT60F\ufffd"
    assert letter.reason_code == "too-large"
    assert len(json.dumps(letter.model_dump(mode="json")).encode()) < 20_000


def test_a_dead_letter_of_hostile_bytes_stays_bounded_and_its_reason_code_is_a_safe_label() -> None:
    original = b"\x00\xff" * 200_000
    letter = dead_letter(
        service="notifier", reason_code='bad"label\n', reason="r" * 5000, payload=original, source_topic="t"
    )
    assert letter.reason_code == "other"
    assert len(letter.reason) == 1000
    assert letter.original_size == 400_000
    # Every byte may become an escaped character: still far below Kafka's 1 MB message limit.
    assert len(letter.model_dump_json().encode()) < 200_000


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_partition_with_lag_and_no_progress_is_stalled_and_recovers() -> None:
    clock = Clock()
    detector = StallDetector(consumer="alert-pipeline", stall_seconds=60, clock=clock)
    detector.observe("utm-events", 0, committed=100, end=100)
    detector.observe("utm-events", 1, committed=50, end=80)
    clock.now = 59
    detector.observe("utm-events", 1, committed=50, end=90)
    assert detector.problem() is None

    clock.now = 61
    assert detector.problem() == (
        "consumer alert-pipeline stalled: utm-events[1]: lag 40, no progress for 61 s"
    )

    detector.observe("utm-events", 1, committed=60, end=95)
    assert detector.problem() is None
    clock.now = 200
    detector.observe("utm-events", 0, committed=100, end=100)  # idle, no lag: never stalled
    detector.observe("utm-events", 1, committed=95, end=95)
    assert detector.problem() is None
