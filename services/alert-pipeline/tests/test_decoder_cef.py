"""ArcSight CEF records composed from the CEF specification (header, extension, escaping)."""

from datetime import UTC, datetime

import pytest

from alert_pipeline.classifier import Classifier
from alert_pipeline.decoders import DecodeError, decode
from utm_core import cef_extension as extension

CLASSIFIER = Classifier.load()
AT = datetime(2026, 11, 30, 1, 15, tzinfo=UTC)
# rt in epoch milliseconds (2026-11-30 01:15:00 UTC), the unit's id and name.
UNIT = "rt=1796001300000 deviceExternalId=ACME-FW-0001 dvchost=acme-fw1"


def cef(cat: str, name: str, severity: str, ext: str = "") -> str:
    class_id = "ev-" + cat.lower().replace(" ", "-")
    return f"CEF:0|Acme|Edge NGFW|9.1|{class_id}|{name}|{severity}|{UNIT} cat={cat} {ext}".rstrip()


ROWS = [
    pytest.param(
        cef("Malware", "Trojan.Generic detected", "8", "src=198.51.100.3 dst=192.168.30.5 act=blocked"),
        {
            "level": "high",
            "signature": "Trojan.Generic detected",
            "src_ip": "198.51.100.3",
            "action": "blocked",
        },
        ("antivirus", 3, 100510),
        id="malware-high",
    ),
    pytest.param(
        cef("Malware", "Adware.Toolbar", "5", "act=quarantined"),
        {"level": "medium"},
        ("antivirus", 2, 100511),
        id="malware-medium",
    ),
    pytest.param(
        cef("Intrusion", "SQL injection attempt", "9", "act=dropped request=http://shop.example/q?id\\=1"),
        {"level": "very-high", "url": "http://shop.example/q?id=1"},
        ("ips", 3, 100525),
        id="intrusion-very-high-escaped-equals",
    ),
    pytest.param(
        cef("Intrusion", "SSH brute force", "5"), {"level": "medium"}, ("ips", 2, 100526), id="ips-medium"
    ),
    pytest.param(cef("Intrusion", "Port sweep", "2"), {"level": "low"}, ("ips", 1, 100527), id="ips-low"),
    pytest.param(
        cef("Botnet", "Host contacted a C&C server", "7", "dhost=c2.bad.example"),
        {"url": "c2.bad.example", "group": "Botnet"},
        ("botnet", 3, 100500),
        id="botnet",
    ),
    pytest.param(
        cef("Sandbox", "File judged malicious", "9", "fname=invoice.xlsm"),
        {"group": "Sandbox"},
        ("sandbox", 3, 100505),
        id="sandbox-malicious",
    ),
    pytest.param(
        cef("Sandbox", "File submitted", "1", "fname=invoice.xlsm"),
        {"level": "low"},
        ("sandbox", 0, 100506),
        id="sandbox-submitted",
    ),
    pytest.param(cef("DLP", "Credit card numbers sent", "6"), {"kind": "dlp"}, ("dlp", 2, 100515), id="dlp"),
    pytest.param(cef("WAF", "XSS blocked", "6"), {"kind": "waf"}, ("waf", 2, 100520), id="waf"),
    pytest.param(
        cef("Spam", "Bulk mail", "3", "suser=promo@spam.example"),
        {"user": "promo@spam.example"},
        ("email-filter", 1, 100530),
        id="spam",
    ),
    pytest.param(cef("DNS", "Query to a blocked domain", "4"), {}, ("dns-filter", 1, 100535), id="dns"),
    pytest.param(
        cef("URL Filtering", "Gambling site", "4", "act=blocked request=http://casino.example/"),
        {"url": "http://casino.example/"},
        ("webfilter", 2, 100541),
        id="url-blocked",
    ),
    pytest.param(
        cef("URL Filtering", "Games site", "3", "act=allowed"), {}, ("webfilter", 1, 100542), id="url-logged"
    ),
    pytest.param(
        cef("Application Control", "BitTorrent", "5"), {}, ("app-control", 2, 100545), id="application-medium"
    ),
    pytest.param(
        cef("Application Control", "Dropbox", "3"), {}, ("app-control", 1, 100546), id="application"
    ),
    pytest.param(
        cef("URL Filtering", "Phishing site", "8", "act=blocked"),
        {},
        ("webfilter", 3, 100540),
        id="url-phishing",
    ),
    pytest.param(cef("SSL Inspection", "Expired certificate", "4"), {}, ("ssl", 1, 100550), id="ssl"),
    pytest.param(cef("DoS", "SYN flood", "7"), {}, ("anomaly", 2, 100555), id="dos"),
    pytest.param(
        cef("Traffic", "Session closed", "1", "act=allow"),
        {"action": "allow"},
        ("traffic", 0, 100560),
        id="traffic",
    ),
    pytest.param(cef("System", "Admin login", "2"), {}, ("system", 0, 100565), id="system"),
    pytest.param(
        cef("Misc", "Something routine", "1", "act=allow"), {}, ("other", 0, 100570), id="low-allowed"
    ),
    pytest.param(
        cef("Misc", "Something odd", "Very-High"), {"level": "very-high"}, ("other", 2, 100575), id="word-sev"
    ),
]


@pytest.mark.parametrize(("body", "expected", "outcome"), ROWS)
def test_decodes_and_classifies(body: str, expected: dict[str, str], outcome: tuple[str, int, int]) -> None:
    event = decode(f"<134>Nov 30 10:15:00 acme-fw1 {body}".encode())
    assert (event.vendor, event.format) == ("cef", "cef")
    assert (event.serial, event.device_name) == ("ACME-FW-0001", "acme-fw1")
    assert event.occurred_at == AT
    for name, value in expected.items():
        assert getattr(event, name) == value, name
    result = CLASSIFIER.classify(event)
    assert (result.category.key, result.severity, result.rule_id) == outcome


def test_header_escapes_and_extension_escapes() -> None:
    event = decode(
        b"CEF:0|Acme|Edge\\|NGFW|9.1|100|Blocked a\\\\b|5|rt=Nov 30 2026 10:15:00 JST "
        b"msg=line one\\nline two cs1Label=Rule cs1=allow \\= all path=C:\\\\temp cat=Malware",
        sender="192.0.2.30",
    )
    assert event.fields["deviceProduct"] == "Edge|NGFW"
    assert event.signature == "Blocked a\\b"
    assert event.message == "line one\nline two"
    assert event.fields["cs1"] == "allow = all"
    assert event.fields["path"] == "C:\\temp"
    assert event.occurred_at == AT


def test_extension_values_keep_spaces_and_first_key_wins() -> None:
    assert extension("msg=File was blocked by policy act=blocked msg=second") == {
        "msg": "File was blocked by policy",
        "act": "blocked",
    }


def test_time_falls_back_to_the_rfc5424_header() -> None:
    event = decode(
        b"<134>1 2026-11-30T01:15:00Z acme-fw1 ngfw - - - CEF:0|Acme|NGFW|9|1|Trojan|8|cat=Malware"
    )
    assert (event.occurred_at, event.device_name) == (AT, "acme-fw1")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param("CEF:0|Acme|NGFW|9.1|100|Name", "header with", id="short-header"),
        pytest.param("CEF:0|Acme|NGFW|9.1|100|Name|11|" + UNIT, "severity", id="severity-11"),
        pytest.param("CEF:0|Acme|NGFW|9.1|100|Name|extreme|" + UNIT, "severity", id="severity-word"),
        pytest.param("CEF:7|Acme|NGFW|9.1|100|Name|5|" + UNIT, "version", id="version"),
        pytest.param("CEF:0|Acme|NGFW|9.1|100|Name|5|junk " + UNIT, "extension", id="junk-extension"),
        pytest.param("CEF:0|Acme|NGFW|9.1|100|Name|5|dvchost=x", "no event time", id="no-time"),
        pytest.param("CEF:0|Acme|NGFW|9.1|100|Name|5|rt=yesterday dvchost=x", "invalid rt", id="bad-rt"),
        pytest.param("CEF:0|Acme|NGFW|9.1|100|Name|5|rt=1796001300000", "no unit identity", id="no-unit"),
    ],
)
def test_rejects_malformed_records(body: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(body.encode())
