"""Sophos Firewall (SFOS / XG) lines composed from Sophos' syslog field descriptions: decoding and rules."""

from datetime import UTC, datetime

import pytest

from alert_pipeline.classifier import Classifier
from alert_pipeline.decoders import DecodeError, decode

CLASSIFIER = Classifier.load()
SERIAL = "C01001K9XR7F2A"
HEAD = (
    f'device="SFW" date=2026-11-30 time=10:15:00 timezone="JST" device_name="XGS136-Tokyo" device_id={SERIAL}'
)
AT = datetime(2026, 11, 30, 1, 15, tzinfo=UTC)

ROWS = [
    pytest.param(
        f'{HEAD} log_id=010101600001 log_type="Firewall" log_component="Firewall Rule" '
        'log_subtype="Allowed" status="Allow" priority=Information duration=0 fw_rule_id=2 '
        'src_ip=192.168.10.5 dst_ip=198.51.100.20 protocol="TCP" src_port=51000 dst_port=443',
        {"kind": "firewall", "subtype": "allowed", "action": "allow", "level": "information"},
        ("traffic", 0, 100300),
        id="firewall-allowed",
    ),
    pytest.param(
        f'{HEAD} log_id=010102400002 log_type="Firewall" log_component="Firewall Rule" '
        'log_subtype="Denied" status="Deny" priority=Warning src_ip=198.51.100.30 dst_ip=192.168.10.1',
        {"action": "deny", "src_ip": "198.51.100.30"},
        ("traffic", 0, 100300),
        id="firewall-denied",
    ),
    pytest.param(
        f'{HEAD} log_id=063110617701 log_type="Event" log_component="GUI" log_subtype="Admin" '
        'status="Successful" priority=Information user_name="admin" message="User admin logged in"',
        {"kind": "event", "user": "admin", "message": "User admin logged in"},
        ("system", 0, 100301),
        id="event-admin-login",
    ),
    pytest.param(
        f'{HEAD} log_id=086304418010 log_type="ATP" log_component="Firewall" log_subtype="Drop" '
        'priority=Critical src_ip=192.168.10.44 dst_ip=203.0.113.66 threatname="C2/Generic-A" '
        'eventtype="Standard"',
        {"kind": "atp", "signature": "C2/Generic-A", "level": "critical"},
        ("botnet", 3, 100310),
        id="atp-c2",
    ),
    pytest.param(
        f'{HEAD} log_id=136800220001 log_type="Sandbox" log_component="Web" log_subtype="Malicious" '
        'priority=Critical filename="invoice.xlsm" src_ip=192.168.10.45',
        {"kind": "sandbox", "subtype": "malicious", "signature": "invoice.xlsm"},
        ("sandbox", 3, 100320),
        id="sandbox-malicious",
    ),
    pytest.param(
        f'{HEAD} log_id=136800660003 log_type="Sandbox" log_component="Web" log_subtype="Pending" '
        'priority=Information filename="invoice.xlsm"',
        {"subtype": "pending"},
        ("sandbox", 0, 100321),
        id="sandbox-pending",
    ),
    pytest.param(
        f'{HEAD} log_id=030906208001 log_type="Anti-Virus" log_component="HTTP" log_subtype="Virus" '
        'priority=Critical virus="EICAR-AV-Test" url="http://dl.example/eicar.com" src_ip=203.0.113.7 '
        "dst_ip=192.168.10.46",
        {"kind": "anti-virus", "signature": "EICAR-AV-Test", "url": "http://dl.example/eicar.com"},
        ("antivirus", 2, 100333),
        id="av-virus",
    ),
    pytest.param(
        f'{HEAD} log_id=030906608002 log_type="Anti-Virus" log_component="HTTP" log_subtype="Clean" '
        "priority=Information",
        {"subtype": "clean"},
        ("antivirus", 0, 100330),
        id="av-clean",
    ),
    pytest.param(
        f'{HEAD} log_id=030910408003 log_type="Anti-Virus" log_component="HTTP" log_subtype="PUA" '
        'priority=Warning virus="PUA/Toolbar"',
        {"subtype": "pua"},
        ("antivirus", 1, 100331),
        id="av-pua",
    ),
    pytest.param(
        f'{HEAD} log_id=020804401001 log_type="IPS" log_component="Signatures" log_subtype="Drop" '
        'priority=Warning signature_id=58771 signature_msg="SERVER-WEBAPP Apache Struts RCE" '
        'classification="Attempted Administrator Privilege Gain" rule_priority=1 src_ip=198.51.100.90',
        {"signature": "SERVER-WEBAPP Apache Struts RCE", "level": "high", "action": "drop"},
        ("ips", 3, 100340),
        id="ips-high-priority",
    ),
    pytest.param(
        f'{HEAD} log_id=020703402001 log_type="IDP" log_component="Signatures" log_subtype="Drop" '
        'priority=Critical signature_id=58724 signature_msg="SERVER-OTHER Log4j RCE attempt" '
        "src_ip=203.0.113.7",
        {"kind": "ips", "signature": "SERVER-OTHER Log4j RCE attempt", "action": "drop"},
        ("ips", 3, 100340),
        id="idp-as-syslog-names-ips",
    ),
    pytest.param(
        f'{HEAD} log_id=020803401002 log_type="IPS" log_component="Signatures" log_subtype="Detect" '
        'priority=Warning signature_msg="SCAN SSH brute force" classification="Misc activity" '
        "rule_priority=2",
        {"level": "medium", "group": "Misc activity"},
        ("ips", 2, 100341),
        id="ips-medium-priority",
    ),
    pytest.param(
        f'{HEAD} log_id=020803501003 log_type="IPS" log_component="Anomaly" log_subtype="Detect" '
        'priority=Notice signature_msg="Port scan"',
        {"level": "notice", "group": "anomaly"},
        ("ips", 1, 100342),
        id="ips-notice",
    ),
    pytest.param(
        f'{HEAD} log_id=160102400003 log_type="Content Filtering" log_component="Application" '
        'log_subtype="Denied" priority=Warning application="BitTorrent" application_category="P2P" '
        "application_risk=4",
        {"subtype": "application denied", "signature": "BitTorrent", "group": "P2P"},
        ("app-control", 2, 100350),
        id="app-filter-denied-p2p",
    ),
    pytest.param(
        f'{HEAD} log_id=160102400005 log_type="Content Filtering" log_component="Application" '
        'log_subtype="Denied" priority=Warning application="Candy Crush" application_category="Games"',
        {"subtype": "application denied", "group": "Games"},
        ("app-control", 1, 100351),
        id="app-filter-denied",
    ),
    pytest.param(
        f'{HEAD} log_id=030906208001 log_type="Anti-Virus" log_component="SMTP" log_subtype="Virus" '
        'priority=Critical virus="Troj/Emotet-CQ"',
        {"signature": "Troj/Emotet-CQ", "group": "smtp"},
        ("antivirus", 3, 100332),
        id="av-dangerous-family",
    ),
    pytest.param(
        f'{HEAD} log_id=160101600004 log_type="Content Filtering" log_component="Application" '
        'log_subtype="Allowed" priority=Information application="Windows Update" '
        'application_category="Software Update"',
        {"subtype": "application allowed"},
        ("app-control", 0, 100352),
        id="app-filter-allowed-update",
    ),
    pytest.param(
        f'{HEAD} log_id=050902400001 log_type="Content Filtering" log_component="HTTP" '
        'log_subtype="Denied" priority=Warning category="Gambling" category_type="Objectionable" '
        'url="http://casino.example/" domain="casino.example"',
        {"signature": "Gambling", "url": "http://casino.example/"},
        ("webfilter", 2, 100356),
        id="web-denied",
    ),
    pytest.param(
        f'{HEAD} log_id=050902400001 log_type="Content Filtering" log_component="HTTP" '
        'log_subtype="Denied" priority=Warning category="Phishing & Fraud" url="http://login.example/"',
        {"group": "Phishing & Fraud"},
        ("webfilter", 3, 100355),
        id="web-phishing",
    ),
    pytest.param(
        f'{HEAD} log_id=050901616001 log_type="Content Filtering" log_component="HTTP" '
        'log_subtype="Allowed" priority=Information category="News" url="https://news.example/"',
        {"subtype": "allowed"},
        ("webfilter", 0, 100358),
        id="web-allowed",
    ),
    pytest.param(
        f'{HEAD} log_id=041105406001 log_type="Anti-Spam" log_component="SMTP" log_subtype="Spam" '
        'priority=Notice from_email_address="promo@spam.example" subject="Cheap watches"',
        {"signature": "Cheap watches", "user": "promo@spam.example"},
        ("email-filter", 1, 100360),
        id="anti-spam",
    ),
    pytest.param(
        f'{HEAD} log_id=075000617701 log_type="WAF" log_component="Web Application Firewall" '
        'log_subtype="Denied" priority=Warning reason="SQL injection" url="/shop/cart"',
        {"signature": "SQL injection"},
        ("waf", 2, 100365),
        id="waf",
    ),
    pytest.param(
        f'{HEAD} log_id=190102400001 log_type="SSL" log_component="SSL" log_subtype="Denied" '
        'priority=Warning reason="Untrusted certificate" url="https://self-signed.example/"',
        {"kind": "ssl"},
        ("ssl", 2, 100370),
        id="ssl-denied",
    ),
]


@pytest.mark.parametrize(("line", "expected", "outcome"), ROWS)
def test_decodes_and_classifies(line: str, expected: dict[str, str], outcome: tuple[str, int, int]) -> None:
    event = decode(f"<30>{line}".encode())
    assert (event.vendor, event.format) == ("sophos", "sophos-kv")
    assert (event.serial, event.device_name) == (SERIAL, "XGS136-Tokyo")
    assert event.occurred_at == AT
    for name, value in expected.items():
        assert getattr(event, name) == value, name
    result = CLASSIFIER.classify(event)
    assert (result.category.key, result.severity, result.rule_id) == outcome


@pytest.mark.parametrize(
    ("zone_field", "expected"),
    [
        pytest.param('timezone="IST"', datetime(2026, 11, 30, 4, 45, tzinfo=UTC), id="IST"),
        pytest.param('timezone="Asia/Tokyo"', datetime(2026, 11, 30, 1, 15, tzinfo=UTC), id="iana"),
        pytest.param('timezone="Europe/Berlin"', datetime(2026, 11, 30, 9, 15, tzinfo=UTC), id="iana-cet"),
        pytest.param('timezone="UTC"', datetime(2026, 11, 30, 10, 15, tzinfo=UTC), id="UTC"),
        pytest.param("", datetime(2026, 11, 30, 1, 15, tzinfo=UTC), id="none-is-jst"),
    ],
)
def test_named_time_zones(zone_field: str, expected: datetime) -> None:
    line = (
        f"date=2026-11-30 time=10:15:00 {zone_field} device_id={SERIAL} log_id=010101600001 "
        'log_type="Firewall" log_subtype="Allowed"'
    )
    assert decode(line.encode()).occurred_at == expected


def test_sfos19_timestamp_and_serial_id() -> None:
    event = decode(
        b'timestamp="2026-11-30T10:15:00+0900" device_model="XGS2100" device_serial_id="X21001ABCDEF" '
        b'log_id=020804401001 log_type="IPS" log_component="Signatures" log_subtype="Drop" '
        b'severity="Critical" signature_msg="Exploit kit landing"'
    )
    assert (event.serial, event.occurred_at, event.level) == ("X21001ABCDEF", AT, "critical")
    assert CLASSIFIER.classify(event).rule_id == 100340


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param(
            f'date=2026-11-30 time=10:15:00 timezone="Mars/Olympus" device_id={SERIAL} log_type="IPS"',
            "time zone",
            id="zone",
        ),
        pytest.param(
            f'device_id={SERIAL} log_type="IPS" date=2026-02-30 time=10:00:00', "date/time", id="feb-30"
        ),
        pytest.param(f'device_id={SERIAL} log_type="IPS"', "date/time", id="no-time"),
        pytest.param(f'{HEAD} log_type="IPS" signature_msg="open', "unterminated", id="open-quote"),
        pytest.param(f'{HEAD} log_component="IPS"', "no known vendor", id="no-log-type"),
        pytest.param(
            'timestamp="last tuesday" device_id=X log_type="IPS"', "invalid timestamp", id="bad-timestamp"
        ),
        pytest.param(
            'date=2026-11-30 time=10:15:00 log_id=1 log_type="IPS"', "no unit identity", id="no-unit"
        ),
    ],
)
def test_rejects_malformed_lines(line: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(line.encode())
