"""The project's JSON, the collector's envelope and syslog headers (RFC 3164, RFC 5424, bare <PRI>)."""

import json
from datetime import UTC, datetime

import pytest

from alert_pipeline.classifier import Classifier
from alert_pipeline.decoders import DecodeError, decode
from utm_core import split_header

CLASSIFIER = Classifier.load()
AT = datetime(2026, 11, 30, 1, 15, tzinfo=UTC)


def utm_event(**overrides: object) -> bytes:
    record: dict[str, object] = {
        "format": "watch.utm-event",
        "version": 1,
        "event_id": "e-77",
        "serial_number": "FGT60FTK2209X001",
        "occurred_at": "2026-11-30T10:15:00+09:00",
        "kind": "ips",
        "action": "dropped",
        "level": "critical",
        "signature": "Apache.Log4j.Error.Log.Remote.Code.Execution",
        "src_ip": "198.51.100.66",
        "dst_ip": "192.168.1.50",
        "details": {"group": "exploit", "attackid": 51006, "blocked": True, "note": None},
    }
    record.update(overrides)
    return json.dumps(record).encode()


def envelope(msg: object, **overrides: object) -> bytes:
    record: dict[str, object] = {
        "v": 1,
        "src": "syslog",
        "host": "192.0.2.10",
        "hostname": "fw-osaka",
        "received": "2026-11-30T01:15:00Z",
        "msg": msg,
    }
    record.update(overrides)
    return json.dumps(record).encode()


JSON_ROWS = [
    pytest.param(utm_event(), ("ips", 3, 100630), id="ips-critical"),
    pytest.param(utm_event(kind="traffic", action="accept", level=""), ("traffic", 0, 100600), id="traffic"),
    pytest.param(utm_event(kind="heartbeat", action=None, level=None), ("system", 0, 100601), id="heartbeat"),
    pytest.param(utm_event(kind="botnet", signature="Mirai.Botnet"), ("botnet", 3, 100610), id="botnet"),
    pytest.param(utm_event(kind="virus", action="passthrough"), ("antivirus", 3, 100620), id="virus-passed"),
    pytest.param(
        utm_event(kind="virus", action="blocked", signature="EICAR"), ("antivirus", 2, 100622), id="virus"
    ),
    pytest.param(
        utm_event(
            kind="webfilter",
            action="passthrough",
            level="notice",
            signature="Games",
            details={"group": "Games"},
        ),
        ("webfilter", 1, 100642),
        id="webfilter-logged",
    ),
    pytest.param(
        utm_event(
            kind="app-ctrl", action="pass", signature="Microsoft.Windows.Update", details={"group": "Update"}
        ),
        ("app-control", 0, 100651),
        id="windows-update-allowed",
    ),
]


@pytest.mark.parametrize(("raw", "outcome"), JSON_ROWS)
def test_json_decodes_and_classifies(raw: bytes, outcome: tuple[str, int, int]) -> None:
    event = decode(raw)
    assert (event.vendor, event.format, event.serial, event.event_key) == (
        "watch",
        "utm-event-json",
        "FGT60FTK2209X001",
        "e-77",
    )
    assert event.occurred_at == AT
    result = CLASSIFIER.classify(event)
    assert (result.category.key, result.severity, result.rule_id) == outcome


def test_json_details_are_kept_as_strings() -> None:
    event = decode(utm_event(details={"group": "exploit", "attackid": 51006, "blocked": True, "note": None}))
    assert event.fields == {"group": "exploit", "attackid": "51006", "blocked": "true", "note": ""}
    assert event.group == "exploit"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(utm_event(serial_number=["S"]), "serial_number is not a string", id="list-serial"),
        pytest.param(utm_event(action={"a": 1}), "action is not a string", id="object-action"),
        pytest.param(utm_event(details=[1]), "details is not an object", id="list-details"),
        pytest.param(utm_event(details=[]), "details is not an object", id="empty-list-details"),
        pytest.param(utm_event(details={"x": [1, 2]}), "details.x is not a scalar", id="nested-details"),
        pytest.param(utm_event(occurred_at="0001-01-01T00:00:00+00:00"), "out of range", id="year-1"),
        pytest.param(utm_event(occurred_at="9999-12-31T23:59:59+00:00"), "out of range", id="year-9999"),
        pytest.param(utm_event(version=True), "version", id="bool-version"),
        pytest.param(b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper", id="deep"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested deeper", id="very-deep"),
        pytest.param(b'{"serial_number": "S", "n": ' + b"9" * 5000 + b"}", "invalid JSON", id="huge-number"),
        pytest.param(b'{"hello": "world"}', "neither a UtmEvent", id="other-object"),
    ],
)
def test_json_rejections(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(raw)


def test_envelope_gives_the_sender_and_decodes_the_message() -> None:
    msg = (
        '<189>Nov 30 10:15:00 fw-osaka date=2026-11-30 time=10:15:00 logid="0419016384" type="utm" '
        'subtype="ips" level="alert" severity="high" action="dropped" attack="SMB.RCE"'
    )
    event = decode(envelope(msg))
    assert (event.vendor, event.serial, event.device_name, event.sender) == (
        "fortinet",
        "",
        "fw-osaka",
        "192.0.2.10",
    )
    assert event.occurred_at == AT
    assert CLASSIFIER.classify(event).rule_id == 100140


def test_envelope_time_is_the_fallback_of_a_cef_record_without_time() -> None:
    event = decode(envelope("<134>Nov 30 10:15:00 fw-osaka CEF:0|Acme|NGFW|9|1|Trojan|8|cat=Malware"))
    assert (event.occurred_at, event.sender, event.device_name) == (AT, "192.0.2.10", "fw-osaka")


def test_envelope_hostname_names_a_unit_whose_line_has_none() -> None:
    event = decode(
        envelope('date=2026-11-30 time=10:15:00 logid="0211008192" type="utm" subtype="virus" virus="X"')
    )
    assert (event.device_name, event.sender) == ("fw-osaka", "192.0.2.10")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(envelope(["x"]), "envelope msg is not a string", id="list-msg"),
        pytest.param(envelope("x", host=5), "envelope host is not a string", id="number-host"),
        pytest.param(envelope("x", v=2), "envelope version", id="v2"),
        pytest.param(
            envelope(envelope("x").decode()),
            "collector envelope inside a syslog message",
            id="nested-envelope",
        ),
        pytest.param(envelope(""), "empty record", id="empty-msg"),
    ],
)
def test_envelope_rejections(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "<189>date=2026-11-30 time=10:15:00",
            (189, "", "", "none", "date=2026-11-30 time=10:15:00"),
            id="bare-pri",
        ),
        pytest.param(
            "<14>Nov 30 10:15:02 PA-440 1,2026/11/30", (14, "PA-440", "", "rfc3164", "1,2026/11/30"), id="bsd"
        ),
        pytest.param(
            '<30>Nov  3 09:05:00 sfw-1 kernel[12]: device="SFW" a=1',
            (30, "sfw-1", "kernel", "rfc3164", 'device="SFW" a=1'),
            id="bsd-tag-single-digit-day",
        ),
        pytest.param(
            "<134>Nov 30 10:15:00 CEF:0|A|B|1|2|n|5|x=1",
            (134, "", "", "rfc3164", "CEF:0|A|B|1|2|n|5|x=1"),
            id="no-host",
        ),
        pytest.param(
            '<134>1 2026-11-30T01:15:00Z fw1 ngfw 42 IDS [x@1 a="b\\]c"][y@2] \ufeffCEF:0|x',
            (134, "fw1", "ngfw", "rfc5424", "CEF:0|x"),
            id="rfc5424-sd-bom",
        ),
        pytest.param("<134>1 - - - - - - hello", (134, "", "", "rfc5424", "hello"), id="rfc5424-nil"),
    ],
)
def test_syslog_headers(text: str, expected: tuple[object, ...]) -> None:
    message = split_header(text)
    assert (message.priority, message.hostname, message.app, message.header, message.body) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("<999>x", "priority", id="priority"),
        pytest.param("<134>1 2026-11-30T01:15:00Z fw1", "truncated", id="truncated-5424"),
        pytest.param('<134>1 2026-11-30T01:15:00Z fw1 a b c [x@1 a="b"', "structured data", id="open-sd"),
    ],
)
def test_syslog_header_rejections(text: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        split_header(text)


def test_project_json_sent_as_a_syslog_message_is_decoded() -> None:
    body = (
        '{"format":"watch.utm-event","version":1,"event_id":"sys-1","serial_number":"FGT60FTK2209X009",'
        '"occurred_at":"2026-11-30T10:15:00+09:00","kind":"ips","action":"dropped","level":"critical",'
        '"signature":"Log4j","src_ip":"203.0.113.9","dst_ip":"192.168.1.20"}'
    )
    event = decode(envelope(f"<134>1 2026-11-30T10:15:00+09:00 fw-hq watch - - - {body}"))
    assert (event.serial, event.kind, event.src_ip, event.sender) == (
        "FGT60FTK2209X009",
        "ips",
        "203.0.113.9",
        "192.0.2.10",
    )
