"""Property tests of the compiled core: random and hostile bytes never crash it, never hang it, and
every rejection says why. Records are random byte strings, hostile texts, and mutations of valid lines
of every vendor format the simulator writes."""

import itertools
import random
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alert_pipeline.core import engine
from alert_pipeline.decoders import DecodeError, NeutralEvent, decode
from alert_pipeline.simulator import VENDOR_FORMATS, events

NOW_MS = int(datetime.now(UTC).timestamp() * 1000)
# The reason the core gives when its own code failed (a bug): never expected.
PANIC = "internal decoder error"
CODES = {"empty", "too-large", "too-deep", "unparseable", "invalid-field"}
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

VALID = [
    record
    for fmt in VENDOR_FORMATS
    for _, _, record in itertools.islice(
        events(["FGT60FTK2209X009", "FGT60FTK2209X010"], fmt=fmt, seed=7, threat_ratio=0.5), 12
    )
]
# Bytes that mean something to one of the formats' structures.
HOSTILE = [
    b'"', b"\\", b"=", b"|", b",", b"{", b"[", b"}", b"]", b"<", b">", b"\x00", b"\xff", b"\xc3",
    b" ", b"\n", b"\t", b":", b"CEF:0|", b"<134>1 ", b'{"v":1,"src":"syslog","msg":', b"devid=",
    b"type=utm", b"eventtime=99999999999999999999", b"date=0000-00-00", b"tz=+9999", b"\xe3\x80\x80",
]  # fmt: skip


def decode_or_reason(raw: bytes) -> NeutralEvent | str:
    try:
        return decode(raw)
    except DecodeError as exc:
        return exc.reason


def check_decode(raw: bytes) -> None:
    outcome = decode_or_reason(raw)
    if isinstance(outcome, str):
        assert outcome.strip()
        assert outcome != PANIC
    else:
        assert outcome.vendor
        assert outcome.serial or outcome.device_name or outcome.sender


def check_process(values: list[bytes | None]) -> None:
    batch = engine().process(values, [0] * len(values), NOW_MS, 65536, 16)
    assert batch.events == len(values)
    rejected = {index for index, _, _ in batch.rejects}
    threats = {index for index, _, _ in batch.threats}
    assert not rejected & threats
    for index, code, reason in batch.rejects:
        assert 0 <= index < len(values)
        assert code in CODES
        assert reason.strip()
        assert reason != PANIC
    counted = sum(batch.counts.values())
    assert counted + len(threats) + len(rejected) == len(values)


@pytest.mark.timeout(120)
@SETTINGS
@given(st.binary(max_size=2048))
def test_random_bytes(raw: bytes) -> None:
    check_decode(raw)
    check_process([raw])


@pytest.mark.timeout(120)
@SETTINGS
@given(st.lists(st.sampled_from(HOSTILE), max_size=64).map(b"".join))
def test_hostile_fragments(raw: bytes) -> None:
    check_decode(raw)
    check_process([raw, None, b""])


@pytest.mark.timeout(120)
@SETTINGS
@given(
    st.sampled_from(VALID),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.sampled_from(HOSTILE)), min_size=1, max_size=8
    ),
)
def test_mutated_valid_lines(line: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    raw = bytearray(line)
    for position, cut, insert in edits:
        at = position % (len(raw) + 1)
        raw[at : at + cut] = insert
    check_decode(bytes(raw))
    check_process([bytes(raw), line])


@pytest.mark.timeout(120)
def test_truncations_of_every_valid_line() -> None:
    for line in VALID:
        check_process([line[:n] for n in range(len(line) + 1)])


@pytest.mark.timeout(120)
def test_large_hostile_records_stay_linear() -> None:
    rng = random.Random(3)
    values: list[bytes | None] = [
        b"a=" + b'"' * 60_000,
        b"a=\\" * 20_000,
        b"CEF:0|" + b"\\|" * 30_000,
        b"<134>1 - - - - - " + b"[x" * 30_000,
        b"x," * 30_000,
        b"[" * 60_000,
        b'{"a":"' + b"\\" * 60_000,
        bytes(rng.getrandbits(8) for _ in range(65_536)),
    ]
    check_process(values)
    for raw in values:
        assert raw is not None
        check_decode(raw)
