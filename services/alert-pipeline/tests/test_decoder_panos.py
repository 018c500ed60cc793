"""PAN-OS 10/11 CSV syslog lines composed by field position from Palo Alto's syslog field descriptions."""

from datetime import UTC, datetime

import pytest

from alert_pipeline.classifier import Classifier
from alert_pipeline.decoders import DecodeError, decode

CLASSIFIER = Classifier.load()
SERIAL = "013201004512"
AT = datetime(2026, 11, 30, 1, 15, tzinfo=UTC)


def _csv(values: dict[int, str], length: int) -> str:
    """A CSV log of ``length`` fields, empty but for ``values`` (position → text); commas quoted."""
    row = [""] * length
    for pos, value in values.items():
        row[pos] = f'"{value}"' if "," in value else value
    return ",".join(row)


def threat(subtype: str, action: str, threat_id: str, category: str, severity: str, misc: str = "") -> str:
    return _csv(
        {
            0: "1",
            1: "2026/11/30 10:15:02",
            2: SERIAL,
            3: "THREAT",
            4: subtype,
            5: "2561",
            6: "2026/11/30 10:15:00",
            7: "192.168.20.15",
            8: "198.51.100.44",
            11: "allow-web",
            12: "corp\\tanaka",
            14: "web-browsing",
            15: "vsys1",
            16: "trust",
            17: "untrust",
            22: "40213",
            23: "1",
            24: "50122",
            25: "443",
            29: "tcp",
            30: action,
            31: misc,
            32: threat_id,
            33: category,
            34: severity,
            35: "client-to-server",
            59: "PA-440-Tokyo",
        },
        75,
    )


def traffic(subtype: str, action: str) -> str:
    return _csv(
        {
            0: "1",
            1: "2026/11/30 10:15:02",
            2: SERIAL,
            3: "TRAFFIC",
            4: subtype,
            5: "2561",
            6: "2026/11/30 10:15:00",
            7: "192.168.20.16",
            8: "198.51.100.45",
            11: "allow-web",
            14: "ssl",
            15: "vsys1",
            24: "50123",
            25: "443",
            29: "tcp",
            30: action,
            31: "7312",
            37: "business-and-economy",
            46: "tcp-fin",
            59: "PA-440-Tokyo",
        },
        70,
    )


SYSTEM = _csv(
    {
        0: "1",
        1: "2026/11/30 10:15:02",
        2: SERIAL,
        3: "SYSTEM",
        4: "general",
        5: "2561",
        6: "2026/11/30 10:15:00",
        8: "general",
        12: "general",
        13: "informational",
        14: "User admin logged in via Web from 192.168.20.2",
        22: "PA-440-Tokyo",
    },
    26,
)

ROWS = [
    pytest.param(
        threat(
            "vulnerability",
            "reset-both",
            "Apache Log4j Remote Code Execution Vulnerability(91991)",
            "code-execution",
            "critical",
        ),
        {
            "subtype": "vulnerability",
            "level": "critical",
            "action": "reset-both",
            "signature": "Apache Log4j Remote Code Execution Vulnerability(91991)",
        },
        ("ips", 3, 100430),
        id="vulnerability-critical",
    ),
    pytest.param(
        threat(
            "vulnerability", "alert", "HTTP Directory Traversal Vulnerability(30844)", "info-leak", "medium"
        ),
        {"level": "medium", "action": "alert"},
        ("ips", 2, 100431),
        id="vulnerability-medium",
    ),
    pytest.param(
        threat("vulnerability", "alert", "HTTP OPTIONS Method(30520)", "info-leak", "informational"),
        {"level": "informational"},
        ("ips", 0, 100432),
        id="vulnerability-informational-alerted",
    ),
    pytest.param(
        threat("vulnerability", "drop", "SIP INVITE Flood(40016)", "brute-force", "low"),
        {"level": "low", "action": "drop"},
        ("ips", 1, 100433),
        id="vulnerability-low",
    ),
    pytest.param(
        threat("spyware", "reset-both", "Cobalt Strike C2 Traffic Detection(86246)", "spyware", "critical"),
        {"signature": "Cobalt Strike C2 Traffic Detection(86246)"},
        ("botnet", 3, 100410),
        id="spyware-c2",
    ),
    pytest.param(
        threat("spyware", "alert", "Adware Generic Phone Home(12032)", "adware", "medium"),
        {"group": "adware"},
        ("botnet", 2, 100411),
        id="spyware-other",
    ),
    pytest.param(
        threat("virus", "reset-both", "Virus/Win32.WGeneric.dkxq(458771)", "any", "medium", "invoice.zip"),
        {"subtype": "virus", "url": "invoice.zip"},
        ("antivirus", 2, 100422),
        id="virus-reset",
    ),
    pytest.param(
        threat("virus", "reset-both", "Trojan/Win32.Emotet.xy(458772)", "any", "medium", "doc.zip"),
        {"signature": "Trojan/Win32.Emotet.xy(458772)"},
        ("antivirus", 3, 100421),
        id="virus-dangerous-family",
    ),
    pytest.param(
        threat("virus", "alert", "Virus/Win32.WGeneric.dkxq(458771)", "any", "medium", "invoice.zip"),
        {"action": "alert"},
        ("antivirus", 3, 100420),
        id="virus-alert-only",
    ),
    pytest.param(
        threat("wildfire", "allow", "Windows Executable (EXE)(52020)", "malicious", "high", "setup.exe"),
        {"group": "malicious"},
        ("sandbox", 3, 100425),
        id="wildfire-malicious",
    ),
    pytest.param(
        threat(
            "wildfire", "allow", "Windows Executable (EXE)(52020)", "benign", "informational", "setup.exe"
        ),
        {"group": "benign"},
        ("sandbox", 0, 100427),
        id="wildfire-benign",
    ),
    pytest.param(
        threat("wildfire", "allow", "Windows Executable (EXE)(52020)", "grayware", "low", "toolbar.exe"),
        {"group": "grayware"},
        ("sandbox", 1, 100426),
        id="wildfire-grayware",
    ),
    pytest.param(
        threat("url", "block-url", "(9999)", "gambling", "informational", "casino.example/play,now"),
        {"url": "casino.example/play,now", "signature": "gambling"},
        ("webfilter", 2, 100441),
        id="url-blocked-comma-quoted",
    ),
    pytest.param(
        threat("url", "alert", "(9999)", "news", "informational", "news.example/"),
        {"group": "news"},
        ("webfilter", 0, 100442),
        id="url-alert-informational",
    ),
    pytest.param(
        threat("url", "block-url", "(9999)", "command-and-control", "informational", "c2.bad.example/"),
        {"group": "command-and-control"},
        ("botnet", 3, 100410),
        id="url-c2",
    ),
    pytest.param(
        threat("url", "block-url", "(9999)", "phishing", "informational", "login.bad.example/"),
        {"group": "phishing"},
        ("webfilter", 3, 100440),
        id="url-phishing",
    ),
    pytest.param(
        threat("data", "alert", "Credit Card Numbers(60001)", "any", "high", "cards.csv"),
        {"subtype": "data"},
        ("dlp", 3, 100450),
        id="data-filtering",
    ),
    pytest.param(
        threat("file", "deny", "Windows Executable (EXE)(52020)", "any", "low", "tool.exe"),
        {"subtype": "file", "action": "deny"},
        ("other", 1, 100455),
        id="file-blocking",
    ),
    pytest.param(
        threat("flood", "drop", "TCP Flood(8501)", "any", "critical"),
        {"subtype": "flood", "signature": "TCP Flood(8501)"},
        ("anomaly", 3, 100460),
        id="flood",
    ),
    pytest.param(
        threat("scan", "drop", "TCP Port scan(8001)", "any", "low"),
        {"subtype": "scan"},
        ("anomaly", 1, 100461),
        id="scan",
    ),
    pytest.param(
        traffic("end", "allow"),
        {"kind": "traffic", "subtype": "end", "action": "allow", "signature": "ssl"},
        ("traffic", 0, 100400),
        id="traffic-end",
    ),
    pytest.param(
        traffic("deny", "deny"),
        {"action": "deny"},
        ("traffic", 0, 100400),
        id="traffic-deny",
    ),
    pytest.param(
        SYSTEM,
        {
            "kind": "system",
            "level": "informational",
            "message": "User admin logged in via Web from 192.168.20.2",
        },
        ("system", 0, 100401),
        id="system",
    ),
]


@pytest.mark.parametrize(("body", "expected", "outcome"), ROWS)
def test_decodes_and_classifies(body: str, expected: dict[str, str], outcome: tuple[str, int, int]) -> None:
    event = decode(f"<14>Nov 30 10:15:02 PA-440-Tokyo {body}".encode(), sender="192.0.2.20")
    assert (event.vendor, event.format) == ("paloalto", "panos-csv")
    assert (event.serial, event.device_name, event.sender) == (SERIAL, "PA-440-Tokyo", "192.0.2.20")
    assert event.occurred_at == AT
    for name, value in expected.items():
        assert getattr(event, name) == value, name
    result = CLASSIFIER.classify(event)
    assert (result.category.key, result.severity, result.rule_id) == outcome


def test_fields_are_named_by_position() -> None:
    event = decode(threat("vulnerability", "drop", "X(1)", "any", "high").encode())
    assert event.fields["src"] == "192.168.20.15"
    assert event.fields["dport"] == "443"
    assert event.fields["srcuser"] == "corp\\tanaka"
    assert event.fields["direction"] == "client-to-server"
    assert event.user == "corp\\tanaka"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(threat("url", "alert", "(9999)", "news", "low")[:200], "at least 35", id="truncated"),
        pytest.param(
            "1,2026/11/30 10:15:02,X,CONFIG,0,2561,2026/11/30 10:15:00,x", "unsupported", id="config-log"
        ),
        pytest.param(
            threat("url", "alert", "(9999)", "news", "low").replace("news", '"news'),
            "malformed CSV",
            id="quote",
        ),
        pytest.param(threat("url", "alert", "(9999)", "ne\x00ws", "low"), "NUL", id="nul"),
        pytest.param(
            threat("url", "alert", "(9999)", "news", "low").replace(
                "2026/11/30 10:15:00", "2026/13/30 10:15:00"
            ),
            "generated time",
            id="bad-month",
        ),
        pytest.param(
            threat("url", "alert", "(9999)", "news", "low").replace(
                "2026/11/30 10:15:00", "0001/01/01 00:00:00"
            ),
            "out of range",
            id="year-1",
        ),
    ],
)
def test_rejects_malformed_lines(body: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(body.encode())
