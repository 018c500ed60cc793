"""The engine's batch interface (``Engine.process``): counts, threats, rejects, seen and aliases.

Written against ``make_engine``: the same expectations hold for the compiled core and for the
reference engine in Python.
"""

import json
from typing import Any

from alert_pipeline.hotpath import make_engine
from alert_pipeline.ingest import rules_text

ENGINE = make_engine(rules_text())
# 2026-01-05T03:00:00Z and 03:04:05Z, epoch seconds / microseconds.
HOUR = 1_767_582_000
MOMENT_US = (HOUR + 245) * 1_000_000
# "Now" for these batches: 2026-01-10T00:00:00Z.
NOW_MS = 1_768_003_200_000


def _json(serial: str = "FGT60FTK2109ABCD", **extra: Any) -> bytes:
    body = {
        "event_id": "e1",
        "serial_number": serial,
        "occurred_at": "2026-01-05T03:04:05Z",
        "kind": "traffic",
    }
    body.update(extra)
    return json.dumps(body).encode()


def _process(values: list[bytes | None], stamps: list[int] | None = None) -> Any:
    return ENGINE.process(values, stamps or [0] * len(values), NOW_MS, 1024, 32)


def test_benign_records_are_only_counted_per_identity_hour_and_category() -> None:
    batch = _process(
        [_json(event_id="a"), _json(event_id="b"), _json(event_id="h", kind="heartbeat"), _json("FGT-OTHER")]
    )

    assert batch.events == 4
    assert batch.counts == {
        ("FGT60FTK2109ABCD", HOUR, "benign.traffic"): 2,
        ("FGT60FTK2109ABCD", HOUR, "benign.system"): 1,
        ("FGT-OTHER", HOUR, "benign.traffic"): 1,
    }
    assert batch.threats == []
    assert batch.rejects == []
    assert batch.seen == {"FGT60FTK2109ABCD": MOMENT_US, "FGT-OTHER": MOMENT_US}
    assert sorted(batch.aliases) == [("FGT-OTHER", "", ""), ("FGT60FTK2109ABCD", "", "")]


def test_only_threats_come_back_as_events_with_their_classification() -> None:
    attack = _json(kind="ips", action="dropped", level="critical", signature="Exploit.X", src_ip="10.0.0.9")
    batch = _process([_json(), attack])

    [(index, event, (category, severity, blocked, rule_id))] = batch.threats
    assert index == 1
    assert (category, severity, blocked) == ("ips", 3, True)
    assert isinstance(rule_id, int)
    assert rule_id > 0
    assert event["serial"] == "FGT60FTK2109ABCD"
    assert event["signature"] == "Exploit.X"
    assert event["src_ip"] == "10.0.0.9"
    assert event["occurred_at"] == MOMENT_US
    assert event["event_key"] == "e1"  # the event ID of a UtmEvent
    assert batch.counts == {("FGT60FTK2109ABCD", HOUR, "benign.traffic"): 1}


def test_each_rejected_record_has_its_code_and_reason_in_the_order_of_the_checks() -> None:
    batch = _process(
        [
            None,
            b"",
            b"x" * 2000,
            b"[" * 40 + b"]" * 40,
            b"no log line at all",
            _json("serial with spaces"),
            _json(kind="traffic", action=["a list"]),
            _json(),
        ]
    )

    assert [(index, code) for index, code, _ in batch.rejects] == [
        (0, "empty"),
        (1, "empty"),
        (2, "too-large"),
        (3, "too-deep"),
        (4, "unparseable"),
        (5, "invalid-field"),
        (6, "unparseable"),
    ]
    assert all(reason for _, _, reason in batch.rejects)
    assert batch.rejects[2][2] == "record of 2000 bytes exceeds 1024"
    assert batch.counts == {("FGT60FTK2109ABCD", HOUR, "benign.traffic"): 1}


def test_a_reset_device_clock_gives_the_broker_time_and_keeps_the_device_time() -> None:
    reset = _json(kind="botnet", action="blocked", level="critical", occurred_at="1970-01-01T00:00:05Z")
    broker_ms = 1_767_600_000_123  # 2026-01-05T08:00:00.123Z
    batch = _process([reset, reset.replace(b"botnet", b"traffic")], [broker_ms, 0])

    [(_, event, _)] = batch.threats
    assert event["occurred_at"] == broker_ms * 1000
    assert event["fields"]["device_time"] == "1970-01-01T00:00:05+00:00"
    # Without a broker time, "now" is used: 2026-01-10T00:00Z.
    assert batch.counts == {("FGT60FTK2109ABCD", NOW_MS // 1000, "benign.traffic"): 1}
    assert batch.seen == {"FGT60FTK2109ABCD": NOW_MS * 1000}


def test_lines_without_serial_are_named_by_device_name_or_sending_host_and_bad_bytes_are_replaced() -> None:
    fortigate = b"date=2026-01-05 time=12:04:05 devname=HQ-FW type=traffic subtype=forward action=accept"
    envelope = json.dumps(
        {
            "v": 1,
            "src": "syslog",
            "host": "192.0.2.7",
            "msg": "<14>" + fortigate.replace(b"devname=HQ-FW ", b"").decode(),
        }
    ).encode()
    odd_bytes = _json(signature="caf\udcff").replace(b"\\udcff", b"\xff")
    batch = _process([fortigate, envelope, odd_bytes])

    assert batch.rejects == []
    # 12:04:05 in Japan time (FortiGate's default zone) is 03:04:05 UTC.
    assert batch.counts == {
        ("devname:HQ-FW", HOUR, "benign.traffic"): 1,
        ("sender:192.0.2.7", HOUR, "benign.traffic"): 1,
        ("FGT60FTK2109ABCD", HOUR, "benign.traffic"): 1,
    }
    assert batch.aliases == [("FGT60FTK2109ABCD", "", "")]
