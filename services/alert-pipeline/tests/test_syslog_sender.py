"""The simulator's syslog transport: headers, framing, addresses, and real sockets on loopback;
and the pipeline's unwrapping of the collector's envelope."""

import json
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from alert_pipeline.parsing import ParseError, parse_record
from alert_pipeline.syslog_sender import SyslogSender, SyslogTarget, SyslogTargetError, frame, with_header

JST = timezone(timedelta(hours=9))
AT = datetime(2026, 11, 3, 9, 5, 7, 120000, tzinfo=JST)
FGT_IPS = (
    'date=2026-11-03 time=09:05:07 devname="FGT60F" devid="FGT60FTK2109ABCD" logid="0419016384" '
    'type="utm" subtype="ips" level="alert" severity="critical" srcip=203.0.113.7 dstip=192.168.1.20 '
    'action="dropped" attack="Apache.Log4j.Error.Log.Remote.Code.Execution" tz="+0900"'
)


def test_rfc5424_header_keeps_the_lines_own_priority() -> None:
    message = with_header(b"<185>" + FGT_IPS.encode(), hostname="FGT60F-HQ", now=AT)
    expected = "<185>1 2026-11-03T09:05:07.120000+09:00 FGT60F-HQ - - - - " + FGT_IPS
    assert message.decode() == expected


def test_rfc3164_header_pads_the_day_and_defaults_to_local7_notice() -> None:
    message = with_header(b'{"kind":"ips"}', hostname="unit-1", header="3164", now=AT)
    assert message == b'<189>Nov  3 09:05:07 unit-1 {"kind":"ips"}'


def test_a_line_with_a_header_of_its_own_gets_one_header_not_two() -> None:
    pan = b"<14>Nov  3 09:05:07 PA-440 1,2026/11/03 09:05:07,PA440X1,THREAT,vulnerability"
    message = with_header(pan, hostname="PA440X1", now=AT)
    header = b"<14>1 2026-11-03T09:05:07.120000+09:00 PA440X1 - - - - "
    assert message == header + b"1,2026/11/03 09:05:07,PA440X1,THREAT,vulnerability"
    cef = b"<134>Nov 13 09:05:07 unit CEF:0|Watch|UTM Simulator|1.0|ips|X|8|rt=1"
    assert with_header(cef, hostname="u", header="3164", now=AT) == (
        b"<134>Nov  3 09:05:07 u CEF:0|Watch|UTM Simulator|1.0|ips|X|8|rt=1"
    )


def test_framing() -> None:
    assert frame(b"<14>a b", "octet") == b"7 <14>a b"
    assert frame("<14>é".encode(), "octet") == "6 <14>é".encode()
    assert frame(b"<14>two\nlines", "newline") == b"<14>two lines\n"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("tcp://127.0.0.1:5514", SyslogTarget("tcp", "127.0.0.1", 5514)),
        ("udp://collector.example", SyslogTarget("udp", "collector.example", 514)),
        ("tls://[::1]:6514", SyslogTarget("tls", "::1", 6514)),
    ],
)
def test_addresses(url: str, expected: SyslogTarget) -> None:
    assert SyslogTarget.parse(url) == expected


@pytest.mark.parametrize("url", ["http://127.0.0.1:5514", "127.0.0.1:5514", "tcp://:5514", "tcp://h:99999"])
def test_bad_addresses_are_refused(url: str) -> None:
    with pytest.raises(SyslogTargetError):
        SyslogTarget.parse(url)


def _serve_tcp(server: socket.socket, received: list[bytes]) -> None:
    conn, _ = server.accept()
    with conn:
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        received.append(b"".join(chunks))


def test_tcp_octet_counting_on_a_real_socket() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        received: list[bytes] = []
        thread = threading.Thread(target=_serve_tcp, args=(server, received))
        thread.start()
        url = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        with SyslogSender(url, framing="octet") as sender:
            assert sender.send([b"<14>one", b"<14>line\ntwo"]) == 2
        thread.join(10)
    assert received == [b"7 <14>one12 <14>line\ntwo"]


def test_udp_sends_one_datagram_per_message() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        with SyslogSender(f"udp://127.0.0.1:{server.getsockname()[1]}") as sender:
            sender.send([b"<14>first", b"<14>second"])
        assert [server.recv(65536), server.recv(65536)] == [b"<14>first", b"<14>second"]


def test_tls_refuses_a_collector_its_ca_does_not_vouch_for(tmp_path: Path) -> None:
    # A server with no certificate the default trust store knows: the handshake must fail.
    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"tls://127.0.0.1:{server.getsockname()[1]}"
        thread = threading.Thread(target=lambda: server.accept()[0].close())
        thread.start()
        with pytest.raises((ssl.SSLError, ConnectionError)):
            SyslogSender(url).connect()
        thread.join(10)


def _envelope(msg: str, **extra: str) -> bytes:
    body = {"v": 1, "src": "syslog", "host": "192.0.2.10", "hostname": "FGT60F-HQ"}
    body.update(received="2026-11-03T00:05:07.500000+00:00", msg=msg, **extra)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "msg",
    [
        "<185>1 2026-11-03T09:05:07.120000+09:00 FGT60F-HQ - - - - " + FGT_IPS,
        '<185>1 2026-11-03T09:05:07+09:00 FGT60F-HQ fgt - - [meta sequenceId="7" x="a]b"] ' + FGT_IPS,
        "<185>Nov  3 09:05:07 FGT60F-HQ " + FGT_IPS,
        "<185>" + FGT_IPS,
        FGT_IPS,
    ],
    ids=["rfc5424", "rfc5424-structured-data", "rfc3164", "pri-only", "bare"],
)
def test_envelope_of_a_fortigate_line(msg: str) -> None:
    event = parse_record(_envelope(msg))
    assert (event.serial_number, event.kind, event.action, event.level) == (
        "FGT60FTK2109ABCD",
        "ips",
        "dropped",
        "critical",
    )
    assert event.src_ip == "203.0.113.7"
    assert event.occurred_at == datetime(2026, 11, 3, 0, 5, 7, tzinfo=UTC)


def test_envelope_of_a_project_json_record() -> None:
    record = (
        '{"format":"watch.utm-event","version":1,"event_id":"e-9","serial_number":"FGT60FTK2109ABCD",'
        '"occurred_at":"2026-11-03T09:05:07+09:00","kind":"virus","action":"blocked","level":"warning"}'
    )
    event = parse_record(_envelope("<14>1 2026-11-03T09:05:07+09:00 unit - - - - " + record))
    assert (event.event_key, event.kind, event.action) == ("e-9", "antivirus", "blocked")


def test_bytes_that_are_not_utf8_inside_the_envelope_are_replaced() -> None:
    # rsyslog passes a sender's bytes through its JSON escaping unchanged.
    raw = _envelope("<185>" + FGT_IPS.replace("Apache", "ApacheQQQ")).replace(b"QQQ", b"\xff")
    event = parse_record(raw)
    assert event.signature == "Apache\ufffd.Log4j.Error.Log.Remote.Code.Execution"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"v":1,"src":"syslog","host":"192.0.2.10"}', "neither a UtmEvent nor a collector envelope"),
        (b'{"v":1,"src":"syslog","msg":', "invalid JSON"),
        (_envelope("<185>1 2026-11-03T09:05:07+09:00 FGT60F-HQ - - - -"), "empty message"),
        (_envelope("<14>Nov  3 09:05:07 host just words"), "no known format"),
    ],
)
def test_bad_envelopes_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_record(raw)


def test_simulator_says_when_the_collector_cannot_be_reached(capsys: pytest.CaptureFixture[str]) -> None:
    from alert_pipeline.simulator import main

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    assert main(["--serial", "FGT60FTK2109ABCD", "--count", "5", "--syslog", f"tcp://127.0.0.1:{port}"]) == 1
    assert f"cannot send to the syslog collector tcp://127.0.0.1:{port}" in capsys.readouterr().err
