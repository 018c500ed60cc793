"""The compatibility layer ``parse_record``: decoded, classified, and the reasons of rejections."""

import json
from datetime import UTC, datetime

import pytest

from alert_pipeline.parsing import ParseError, parse_record
from utm_core import tokenize

SERIAL = "FGT60FTK2109ABCD"


def _json(**overrides: object) -> bytes:
    record = {
        "format": "watch.utm-event",
        "version": 1,
        "event_id": "e-1",
        "serial_number": SERIAL,
        "occurred_at": "2026-01-05T03:04:05Z",
        "kind": "webfilter",
        "action": "blocked",
        "level": "warning",
        "signature": "Malicious Websites",
        "src_ip": "192.168.1.10",
        "dst_ip": "203.0.113.5",
        "url": "bad.example.com/x",
        "details": {"group": "Security Risk"},
    }
    record.update(overrides)
    return json.dumps(record).encode()


FGT_WEB = (
    'date=2026-01-05 time=12:04:05 devname="FGT60F" devid="FGT60FTK2109ABCD" logid="0316013056" '
    'type="utm" subtype="webfilter" eventtype="ftgd_blk" level="warning" vd="root" policyid=1 '
    'srcip=192.168.1.10 srcport=51234 dstip=203.0.113.5 dstport=80 proto=6 action="blocked" '
    'hostname="bad.example.com" url="/x?a=1" cat=26 catdesc="Malicious Websites" '
    'msg="URL belongs to a denied category in policy"'
)
FGT_TRAFFIC = (
    '<189>date=2026-01-05 time=12:00:00 devname="FGT60F" devid="FGT60FTK2109ABCD" logid="0000000013" '
    'type="traffic" subtype="forward" level="notice" srcip=192.168.1.10 dstip=8.8.8.8 action="accept"'
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            _json(),
            {
                "kind": "webfilter",
                "is_threat": True,
                "rule_id": 100641,
                "action": "blocked",
                "signature": "Malicious Websites",
                "group": "Security Risk",
                "event_key": "e-1",
                "url": "bad.example.com/x",
                "src_ip": "192.168.1.10",
            },
            id="json-webfilter",
        ),
        pytest.param(
            _json(kind="traffic"),
            {"kind": "traffic", "is_threat": False, "rule_id": 100600},
            id="json-traffic",
        ),
        pytest.param(
            _json(kind="heartbeat", action=None),
            {"kind": "system", "is_threat": False, "rule_id": 100601},
            id="json-heartbeat",
        ),
        pytest.param(
            _json(occurred_at="2026-01-05T12:04:05+09:00"),
            {"occurred_at": datetime(2026, 1, 5, 3, 4, 5, tzinfo=UTC)},
            id="json-offset-time",
        ),
        pytest.param(
            FGT_WEB.encode(),
            {
                "kind": "webfilter",
                "action": "blocked",
                "level": "warning",
                "signature": "Malicious Websites",
                "url": "bad.example.com/x?a=1",
                "src_ip": "192.168.1.10",
                "dst_ip": "203.0.113.5",
                "occurred_at": datetime(2026, 1, 5, 3, 4, 5, tzinfo=UTC),
                "source_format": "fortigate-kv",
                "device_name": "FGT60F",
                "rule_id": 100150,
            },
            id="fgt-webfilter-jst",
        ),
        pytest.param(
            FGT_TRAFFIC.encode(),
            {
                "kind": "traffic",
                "is_threat": False,
                "serial_number": SERIAL,
                "occurred_at": datetime(2026, 1, 5, 3, 0, tzinfo=UTC),
            },
            id="fgt-traffic-with-syslog-priority",
        ),
        pytest.param(
            b'date=2026-01-05 time=12:00:00 devid="FGT60FTK2109ABCD" type="event" subtype="system" '
            b'level="information" msg="heartbeat"',
            {"kind": "system", "is_threat": False, "rule_id": 100103},
            id="fgt-system-event-is-no-alert",
        ),
        pytest.param(
            b'date=2026-01-05 time=12:00:00 tz="+0000" devid="FGT60FTK2109ABCD" type="utm" subtype="virus" '
            b'level="warning" action="blocked" virus="EICAR_TEST_FILE" dtype="Virus" '
            b"srcip=1.2.3.4 dstip=10.0.0.2",
            {
                "kind": "antivirus",
                "signature": "EICAR_TEST_FILE",
                "group": "Virus",
                "occurred_at": datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
            },
            id="fgt-virus-explicit-tz",
        ),
        pytest.param(
            b'eventtime=1767582245000000000 devid="FGT60FTK2109ABCD" type="utm" subtype="ips" level="alert" '
            b'severity="critical" action="dropped" attack="Apache.Log4j.Error.Log.Remote.Code.Execution"',
            {
                "kind": "ips",
                "rule_id": 100140,
                "level": "critical",
                "signature": "Apache.Log4j.Error.Log.Remote.Code.Execution",
                "occurred_at": datetime(2026, 1, 5, 3, 4, 5, tzinfo=UTC),
            },
            id="fgt-ips-eventtime-ns",
        ),
        pytest.param(
            b'date=2026-01-05 time=12:00:00 devid="FGT60FTK2109ABCD" type="utm" subtype="app-ctrl" '
            b'action="block" app="BitTorrent" appcat="P2P" msg="An application \\"quoted\\" was blocked"',
            {
                "kind": "app-control",
                "signature": "BitTorrent",
                "group": "P2P",
                "message": 'An application "quoted" was blocked',
            },
            id="fgt-app-ctrl-escaped-quote",
        ),
        pytest.param(
            b'date=2026-01-05 time=12:00:00 devid="FGT60FTK2109ABCD" type="utm" subtype="dns" action="block" '
            b'qname="c2.evil.example" botnetdomain="c2.evil.example"',
            {"kind": "botnet", "signature": "c2.evil.example", "group": "Botnet C&C", "rule_id": 100110},
            id="fgt-dns-botnet",
        ),
    ],
)
def test_parses_valid_records(raw: bytes, expected: dict[str, object]) -> None:
    event = parse_record(raw)
    for name, value in expected.items():
        assert getattr(event, name) == value, name
    assert event.serial_number == SERIAL


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"hello world", "no known format", id="plain-text"),
        pytest.param(b"{not json", "invalid JSON", id="broken-json"),
        pytest.param(b"[1, 2]", "not an object", id="json-array"),
        pytest.param(_json(kind="earthquake"), "unknown kind", id="json-unknown-kind"),
        pytest.param(_json(serial_number=""), "serial_number", id="json-no-serial"),
        pytest.param(_json(event_id=None), "event_id", id="json-no-event-id"),
        pytest.param(_json(occurred_at="yesterday"), "occurred_at", id="json-bad-time"),
        pytest.param(_json(occurred_at="2026-01-05T03:04:05"), "time zone", id="json-naive-time"),
        pytest.param(_json(version=2), "version", id="json-future-version"),
        pytest.param(_json(format="other"), "format", id="json-other-format"),
        pytest.param(_json(signature=42), "signature is not a string", id="json-signature-not-string"),
        pytest.param(_json(serial_number=["S"]), "serial_number is not a string", id="json-list-serial"),
        pytest.param(
            b'date=2026-01-05 time=12:00:00 type="utm" subtype="virus"', "no unit identity", id="fgt-no-unit"
        ),
        pytest.param(b'devid="X1" type="traffic"', "date/time", id="fgt-no-time"),
        pytest.param(
            b'date=2026-13-45 time=12:00:00 devid="X1" type="traffic"', "date/time", id="fgt-bad-date"
        ),
        pytest.param(
            b'date=2026-01-05 time=12:00:00 tz="JST" devid="X1" type="traffic"', "time zone", id="fgt-bad-tz"
        ),
        pytest.param(
            b'date=2026-01-05 time=12:00:00 devid="X1" type="utm"', "subtype", id="fgt-utm-no-subtype"
        ),
        pytest.param(
            b'date=2026-01-05 time=12:00:00 devid="X1" type="utm" subtype="virus" msg="open',
            "unterminated",
            id="fgt-open-quote",
        ),
        pytest.param(b'eventtime=abc devid="X1" type="traffic"', "eventtime", id="fgt-bad-eventtime"),
    ],
)
def test_rejects_malformed_records(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_record(raw)


def test_fortigate_fields_keep_quoted_spaces() -> None:
    fields, _ = tokenize(FGT_WEB)
    assert fields["msg"] == "URL belongs to a denied category in policy"
    assert fields["policyid"] == "1"
    assert fields["catdesc"] == "Malicious Websites"


def test_fortigate_event_key_is_stable_per_line() -> None:
    first, again = parse_record(FGT_WEB.encode()), parse_record(FGT_WEB.encode() + b"\n")
    other = parse_record(FGT_WEB.replace("srcport=51234", "srcport=51235").encode())
    assert first.event_key == again.event_key
    assert first.event_key != other.event_key


def test_bytes_that_are_not_utf8_are_replaced_not_rejected() -> None:
    event = parse_record(
        FGT_WEB.replace("Malicious Websites", "Malicious \udcff").encode("utf-8", "surrogateescape")
    )
    assert event.signature == "Malicious \ufffd"
    assert event.kind == "webfilter"


def test_only_threats_carry_their_decoded_fields() -> None:
    assert parse_record(FGT_TRAFFIC.encode()).details == {}
    assert parse_record(FGT_WEB.encode()).details["catdesc"] == "Malicious Websites"
