"""Engine.process() of the compiled core on a hand-written batch: counts, threats, rejects, seen, aliases.

Every expected value is written here by hand (times worked out from the lines, rule IDs read from
rules.toml), never computed by the core or the Python classifier.
"""

import json

import pytest

from alert_pipeline.core import engine

NOW_MS = 1_764_468_000_000  # 2025-11-30T02:00:00Z
MAX_BYTES = 4096
MAX_DEPTH = 16


def fgt(*pairs: str) -> bytes:
    return " ".join(pairs).encode()


# 2025-11-30T01:15:00Z = 1764465300 s; its hour starts at 1764464400 (01:00Z).
TRAFFIC = fgt(
    'devname="fw-hq" devid="FGT60FTK2209X009" eventtime=1764465300 logid="0000000013"',
    'type="traffic" subtype="forward" level="notice" srcip=192.168.1.20 dstip=93.184.216.34',
    'action="accept" app="HTTPS.BROWSER" appcat="Web.Client"',
)
# 01:45:30Z the same hour; a second unit name for the same serial (an alias).
TRAFFIC_LATER = fgt(
    'devname="fw-hq-new" devid="FGT60FTK2209X009" eventtime=1764467130 logid="0000000013"',
    'type="traffic" subtype="forward" level="notice" action="accept" app="DNS" appcat="Network.Service"',
)
# 2025-11-30 10:20:00 JST (no tz: Japan time) = 01:20:00Z = 1764465600 s.
IPS = fgt(
    'date=2025-11-30 time=10:20:00 devname="fw-hq" devid="FGT60FTK2209X009" logid="0419016384"',
    'type="utm" subtype="ips" level="alert" severity="critical" srcip=203.0.113.9',
    'dstip=192.168.1.20 action="dropped" attack="Apache.Log4j.Error.Log.Remote.Code.Execution" ref="x"',
)
# A unit whose clock was reset: 1999-12-31T23:00:00Z is before 2000, the broker's time is kept.
IPS_OLD_CLOCK = fgt(
    'date=1999-12-31 time=23:00:00 tz="+0000" devname="fw-old" devid="FGT60FTK2209X777"',
    'type="utm" subtype="ips" severity="critical" action="dropped" attack="Old.Clock"',
)
# A clock two days ahead (2025-12-02T02:00:00Z = 1764640800 s), benign: now is kept (no broker time).
TRAFFIC_FUTURE = fgt(
    'devid="FGT60FTK2209X888" eventtime=1764640800 type="traffic" subtype="forward" action="accept"'
)
# Sophos without a device id: identified by its device name.
SOPHOS = (
    b'device_name="xg-osaka" log_id=010101600001 log_type="Firewall" log_component="Firewall Rule" '
    b'log_subtype="Allowed" status="Allow" priority=Information date=2025-11-30 time=10:05:00 '
    b'timezone="JST" src_ip=192.168.2.10 dst_ip=198.51.100.7'
)
# A FortiGate line without devid or devname, sent through the collector: identified by its sender.
ENVELOPE = json.dumps(
    {
        "v": 1,
        "src": "syslog",
        "host": "192.0.2.44",
        "received": "2025-11-30T01:30:00Z",
        "msg": '<189>logid="0000000013" type="traffic" subtype="forward" eventtime=1764465000 '
        'action="accept" app="NTP"',
    }
).encode()
VALUES: list[bytes | None] = [
    TRAFFIC,  # 0
    None,  # 1 empty
    b"",  # 2 empty
    b"x=" + b"y" * MAX_BYTES,  # 3 too large
    b'{"a":' * 17 + b"1" + b"}" * 17,  # 4 too deep
    b'{"note": "[[[[[[[[[[[[[[[[[[[[[[[[["}',  # 5 brackets inside a string: not too deep, unparseable
    b"just some words",  # 6 unparseable
    fgt('devid="FGT 1" eventtime=1764465300 type="traffic" action="accept"'),  # 7 serial with a space
    fgt(f'devid="{"F" * 65}" eventtime=1764465300 type="traffic" action="accept"'),  # 8 serial too long
    IPS,  # 9
    TRAFFIC_LATER,  # 10
    IPS_OLD_CLOCK,  # 11
    TRAFFIC_FUTURE,  # 12
    SOPHOS,  # 13
    ENVELOPE,  # 14
    b"\xff\xfe" + TRAFFIC,  # 15 not UTF-8: replaced, still decoded (a key=value line? no: junk prefix)
]
BROKER_MS = 1_764_465_900_000  # 2025-11-30T01:25:00Z
TIMESTAMPS = [0] * len(VALUES)
TIMESTAMPS[11] = BROKER_MS


@pytest.fixture(scope="module")
def batch():  # type: ignore[no-untyped-def]
    return engine().process(VALUES, TIMESTAMPS, NOW_MS, MAX_BYTES, MAX_DEPTH)


def test_events_is_the_number_of_values(batch) -> None:  # type: ignore[no-untyped-def]
    assert batch.events == 16


def test_every_reject_code(batch) -> None:  # type: ignore[no-untyped-def]
    rejects = {index: (code, reason) for index, code, reason in batch.rejects}
    assert sorted(rejects) == [1, 2, 3, 4, 5, 6, 7, 8, 15]
    assert rejects[1] == ("empty", "no record body")
    assert rejects[2] == ("empty", "empty record")
    assert rejects[3] == ("too-large", "record of 4098 bytes exceeds 4096")
    assert rejects[4] == ("too-deep", "nesting deeper than 16")
    assert rejects[5] == ("unparseable", "JSON object is neither a UtmEvent nor a collector envelope")
    assert rejects[6][0] == "unparseable"
    assert "no known format" in rejects[6][1]
    assert rejects[7] == ("invalid-field", "serial number is not 1-64 printable ASCII characters")
    assert rejects[8] == ("invalid-field", "serial number is not 1-64 printable ASCII characters")
    assert rejects[15] == ("unparseable", "not a key=value pair at offset 0")


def test_benign_counts_are_keyed_by_identity_hour_and_category(batch) -> None:  # type: ignore[no-untyped-def]
    assert batch.counts == {
        ("FGT60FTK2209X009", 1764464400, "benign.traffic"): 2,
        # The future clock: occurred_at became now (02:00Z).
        ("FGT60FTK2209X888", 1764468000, "benign.traffic"): 1,
        # Sophos 10:05 JST = 01:05Z.
        ("devname:xg-osaka", 1764464400, "benign.traffic"): 1,
        # The sender's line: eventtime 1764465000 = 01:10Z.
        ("sender:192.0.2.44", 1764464400, "benign.traffic"): 1,
    }


def test_threats_carry_the_decoded_event_and_the_outcome(batch) -> None:  # type: ignore[no-untyped-def]
    assert [index for index, _, _ in batch.threats] == [9, 11]
    _, event, outcome = batch.threats[0]
    assert outcome == ("ips", 3, True, 100140)
    assert event["vendor"] == "fortinet"
    assert event["format"] == "fortigate-kv"
    assert event["occurred_at"] == 1_764_465_600_000_000
    assert (event["kind"], event["subtype"], event["action"], event["level"]) == (
        "utm",
        "ips",
        "dropped",
        "critical",
    )
    assert event["signature"] == "Apache.Log4j.Error.Log.Remote.Code.Execution"
    assert (event["serial"], event["device_name"], event["sender"]) == ("FGT60FTK2209X009", "fw-hq", "")
    assert (event["src_ip"], event["dst_ip"]) == ("203.0.113.9", "192.168.1.20")
    assert len(event["event_key"]) == 32
    assert event["fields"]["attack"] == "Apache.Log4j.Error.Log.Remote.Code.Execution"
    assert "device_time" not in event["fields"]


def test_an_implausible_device_time_is_replaced_and_kept_as_a_field(batch) -> None:  # type: ignore[no-untyped-def]
    _, event, outcome = batch.threats[1]
    assert outcome == ("ips", 3, True, 100140)
    assert event["occurred_at"] == BROKER_MS * 1000
    assert event["fields"]["device_time"] == "1999-12-31T23:00:00+00:00"


def test_seen_is_the_latest_time_per_identity(batch) -> None:  # type: ignore[no-untyped-def]
    assert batch.seen == {
        "FGT60FTK2209X009": 1_764_467_130_000_000,
        "FGT60FTK2209X777": BROKER_MS * 1000,
        "FGT60FTK2209X888": NOW_MS * 1000,
        "devname:xg-osaka": 1_764_464_700_000_000,
        "sender:192.0.2.44": 1_764_465_000_000_000,
    }


def test_aliases_are_the_distinct_names_of_serials(batch) -> None:  # type: ignore[no-untyped-def]
    assert sorted(batch.aliases) == [
        ("FGT60FTK2209X009", "fw-hq", ""),
        ("FGT60FTK2209X009", "fw-hq-new", ""),
        ("FGT60FTK2209X777", "fw-old", ""),
        ("FGT60FTK2209X888", "", ""),
    ]


def test_an_empty_batch() -> None:
    batch = engine().process([], [], NOW_MS, MAX_BYTES, MAX_DEPTH)
    assert (batch.events, batch.counts, batch.threats, batch.rejects, batch.seen, batch.aliases) == (
        0,
        {},
        [],
        [],
        {},
        [],
    )


def test_bytes_that_are_not_utf8_are_replaced_not_rejected() -> None:
    line = TRAFFIC.replace(b'app="HTTPS.BROWSER"', b'app="Caf\xe9"')
    batch = engine().process([line], [0], NOW_MS, MAX_BYTES, MAX_DEPTH)
    assert batch.rejects == []
    assert batch.counts == {("FGT60FTK2209X009", 1764464400, "benign.traffic"): 1}
    assert engine().decode(line)["signature"] == "Caf\ufffd"


@pytest.mark.parametrize("pad", range(8))
def test_multibyte_text_anywhere_in_a_line(pad: int) -> None:
    # A three-byte character lands on every byte offset near the start of the line.
    line = ("a" * pad + "東京").encode()
    raw = (
        b'devname="'
        + line
        + b'" devid="FGT60FTK2209X009" eventtime=1764465300 type="traffic" action="accept"'
    )
    event = engine().decode(raw)
    assert event["device_name"] == "a" * pad + "東京"
    batch = engine().process([raw], [0], NOW_MS, MAX_BYTES, MAX_DEPTH)
    assert batch.rejects == []
