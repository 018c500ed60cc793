"""Hostile input: whatever the bytes, decode() returns a neutral event or raises DecodeError, quickly."""

import random

import pytest

from alert_pipeline.decoders import DecodeError, NeutralEvent, decode

VALID = [
    b'<189>date=2026-11-30 time=10:15:00 devname="FGT60F" devid="FGT60FTK2209X001" tz="+0900" '
    b'logid="0419016384" type="utm" subtype="ips" severity="high" action="dropped" attack="X" agent="a b"',
    b'{"format":"watch.utm-event","version":1,"event_id":"e","serial_number":"S","occurred_at":'
    b'"2026-11-30T00:00:00+00:00","kind":"ips","details":{"group":"g"}}',
    b"<14>Nov 30 10:15:02 PA 1,2026/11/30 10:15:02,013201004512,THREAT,vulnerability,2561,"
    b"2026/11/30 10:15:00," + b"x," * 60,
    b"CEF:0|Acme|NGFW|9.1|100|Trojan|8|rt=1796001300000 dvchost=fw1 src=10.0.0.1 act=blocked cat=Malware",
    b'device="SFW" date=2026-11-30 time=10:15:00 timezone="JST" device_id=C01 log_id=1 log_type="IPS" '
    b"log_subtype=Drop priority=Warning",
    b'{"v":1,"src":"syslog","host":"192.0.2.1","hostname":"fw","received":"2026-11-30T01:15:00Z",'
    b'"msg":"<134>1 2026-11-30T01:15:00Z fw app - - [a b=\\"c\\"] CEF:0|A|B|1|2|n|5|x=1"}',
]
TOKENS = [
    b'"',
    b"\\",
    b"=",
    b" ",
    b"|",
    b",",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\x00",
    b"\xff",
    b" tz=",
    b" devid=",
    b" type=",
    b"<",
    b">",
    b"1 ",
    b"CEF:",
    b'":',
    b"\xe3\x81",
    b"-99999999999999999999",
    b"9" * 30,
]
EXTREME = [
    b"{" * 100_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000,
    b'"' * 100_000,
    b"\\" * 100_000,
    b"a=" + b'"' + b"\\" * 100_001,
    b'a="' + b'x\\"' * 30_000,
    b"x " * 50_000 + b"=",
    b"CEF:0|" + b"\\|" * 50_000,
    b"<1>1 " + b"[" * 50_000,
    b"\x00" * 10_000,
    b"\xff\xfe" * 50_000,
    b'{"serial_number":"S","event_id":"e","kind":"ips","occurred_at":"2026-11-30T00:00:00+00:00","details":{"n":'
    + b"9" * 5000
    + b"}}",
    b'eventtime=-99999999999999999999 devid="X" type="utm" subtype="ips"',
    b'eventtime=99999999999999999999 devid="X" type="utm" subtype="ips"',
    b'{"format":"watch.utm-event","version":1e999,"event_id":"e"}',
    b'{"v":1,"src":"syslog","msg":{"x":1}}',
    b'{"\x00":1,"serial_number":"S"}',
    b"1,2026/11/30 10:15:02,S,THREAT," + b'"' * 1000,
]


def _mutations(rng: random.Random, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        data = bytearray(rng.choice(VALID))
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data) + 1)
            roll = rng.random()
            if roll < 0.25:
                del data[pos : pos + rng.randint(1, 30)]
            elif roll < 0.5:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
            elif roll < 0.85:
                data[pos:pos] = rng.choice(TOKENS)
            else:
                del data[pos:]
        out.append(bytes(data))
    return out


def _only_decode_error(raw: bytes) -> None:
    try:
        event = decode(raw)
    except DecodeError as exc:
        reason = exc.reason
    else:
        assert isinstance(event, NeutralEvent)
        assert event.serial or event.device_name or event.sender
        return
    assert reason


def test_thousands_of_mutated_records_only_raise_decode_error() -> None:
    rng = random.Random(20261130)
    records = _mutations(rng, 4000) + [
        bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))) for _ in range(2000)
    ]
    for raw in records:
        _only_decode_error(raw)


@pytest.mark.parametrize("raw", EXTREME, ids=range(len(EXTREME)))
def test_extreme_records_only_raise_decode_error(raw: bytes) -> None:
    _only_decode_error(raw)


@pytest.mark.parametrize("raw", [None, "text", 5, ["x"]])
def test_a_non_bytes_record_is_a_decode_error(raw: object) -> None:
    with pytest.raises(DecodeError):
        decode(raw)  # type: ignore[arg-type]


def test_mutations_of_valid_records_are_still_decoded_sometimes() -> None:
    """The hostile test above must not pass merely because everything is rejected."""
    rng = random.Random(7)
    decoded = 0
    for raw in _mutations(rng, 500):
        try:
            decode(raw)
            decoded += 1
        except DecodeError:
            pass
    assert decoded > 10
