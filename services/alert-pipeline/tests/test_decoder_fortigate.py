"""FortiGate (FortiOS 7.x) lines composed from the fields of Fortinet's log reference: decoding and rules.

Every row gives a line, the neutral fields it must decode to, and the outcome of the rules: category
code, severity and rule ID, all written by hand.
"""

from datetime import UTC, datetime

import pytest

from alert_pipeline.classifier import Classifier
from alert_pipeline.decoders import DecodeError, decode

CLASSIFIER = Classifier.load()
DEVID = "FGT60FTK2209X001"
# 2026-11-30 10:15:00 JST, in nanoseconds since the epoch (FortiOS 7 writes eventtime in ns).
HEAD = (
    f'date=2026-11-30 time=10:15:00 devname="FGT60F-Tokyo" devid="{DEVID}" '
    'eventtime=1796001300000000000 tz="+0900" vd="root"'
)
AT = datetime(2026, 11, 30, 1, 15, tzinfo=UTC)

ROWS = [
    pytest.param(
        f'<189>{HEAD} logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=192.168.1.20 '
        'srcport=50412 dstip=198.51.100.7 dstport=443 proto=6 action="accept" policyid=3 service="HTTPS" '
        'app="HTTPS.BROWSER" appcat="Web.Client" sentbyte=5120 rcvdbyte=88211',
        {"kind": "traffic", "subtype": "forward", "action": "accept", "src_ip": "192.168.1.20"},
        ("traffic", 0, 100102),
        id="traffic-accepted",
    ),
    pytest.param(
        f'{HEAD} logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=192.168.1.21 '
        'dstip=198.51.100.8 action="accept" utmaction="block" app="BitTorrent" appcat="P2P" crscore=30 '
        'craction=2 crlevel="high"',
        {"action": "block", "signature": "BitTorrent", "group": "P2P", "level": "high"},
        ("app-control", 2, 100100),
        id="traffic-utm-block-risky-client",
    ),
    pytest.param(
        f'{HEAD} logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=192.168.1.22 '
        'dstip=198.51.100.9 action="accept" utmaction="block" app="Tor" appcat="Proxy" crscore=5 '
        'crlevel="low"',
        {"action": "block", "signature": "Tor", "group": "Proxy", "level": "low"},
        ("app-control", 1, 100101),
        id="traffic-utm-block-appcat",
    ),
    pytest.param(
        f'{HEAD} logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=192.168.1.23 '
        'dstip=198.51.100.10 action="deny" policyid=0',
        {"kind": "traffic", "action": "deny"},
        ("traffic", 0, 100102),
        id="traffic-denied-by-policy",
    ),
    pytest.param(
        f'{HEAD} logid="0316013056" type="utm" subtype="webfilter" eventtype="ftgd_blk" level="warning" '
        'srcip=192.168.1.30 dstip=203.0.113.40 action="blocked" hostname="casino.example.com" '
        'url="/play?x=1" cat=28 catdesc="Gambling" msg="URL belongs to a denied category in policy"',
        {
            "subtype": "webfilter",
            "signature": "Gambling",
            "url": "casino.example.com/play?x=1",
            "message": "URL belongs to a denied category in policy",
        },
        ("webfilter", 2, 100151),
        id="webfilter-blocked",
    ),
    pytest.param(
        f'{HEAD} logid="0316013057" type="utm" subtype="webfilter" eventtype="ftgd_allow" level="notice" '
        'action="passthrough" hostname="game.example.jp" url="/" catdesc="Games"',
        {"action": "passthrough", "level": "notice", "group": "Games"},
        ("webfilter", 1, 100152),
        id="webfilter-logged",
    ),
    pytest.param(
        f'{HEAD} logid="0316013056" type="utm" subtype="webfilter" level="warning" action="blocked" '
        'hostname="login.example.org" url="/verify" catdesc="Phishing"',
        {"signature": "Phishing"},
        ("webfilter", 3, 100150),
        id="webfilter-phishing",
    ),
    pytest.param(
        f'{HEAD} logid="0211008192" type="utm" subtype="virus" eventtype="infected" level="warning" '
        'srcip=203.0.113.9 dstip=192.168.1.40 action="blocked" virus="EICAR_TEST_FILE" dtype="Virus" '
        'filename="eicar.com" service="HTTP"',
        {"subtype": "virus", "signature": "EICAR_TEST_FILE", "group": "Virus"},
        ("antivirus", 2, 100132),
        id="virus-blocked",
    ),
    pytest.param(
        f'{HEAD} logid="0211008193" type="utm" subtype="virus" eventtype="infected" level="warning" '
        'action="passthrough" virus="JS/Agent.AB!tr" dtype="Virus"',
        {"action": "passthrough", "signature": "JS/Agent.AB!tr"},
        ("antivirus", 3, 100130),
        id="virus-passed",
    ),
    pytest.param(
        f'{HEAD} logid="0201009233" type="utm" subtype="virus" eventtype="analytics" level="information" '
        'action="analytics" filename="report.docm" analyticscksum="9f2c" analyticssubmit="true" '
        'msg="File submitted to Sandbox."',
        {"subtype": "sandbox", "group": "", "action": "analytics"},
        ("sandbox", 0, 100123),
        id="sandbox-submission-without-verdict",
    ),
    pytest.param(
        f'{HEAD} logid="0201009238" type="utm" subtype="virus" eventtype="analytics" level="notice" '
        'action="blocked" filename="report.docm" fsaverdict="malicious"',
        {"subtype": "sandbox", "group": "malicious"},
        ("sandbox", 3, 100120),
        id="sandbox-verdict-malicious",
    ),
    pytest.param(
        f'{HEAD} logid="0419016384" type="utm" subtype="ips" eventtype="signature" level="alert" '
        'severity="critical" srcip=198.51.100.66 dstip=192.168.1.50 action="dropped" '
        'attack="Apache.Log4j.Error.Log.Remote.Code.Execution" attackid=51006 ref="http://www.fortinet.com/ids/VID51006"',
        {"level": "critical", "signature": "Apache.Log4j.Error.Log.Remote.Code.Execution"},
        ("ips", 3, 100140),
        id="ips-critical-dropped",
    ),
    pytest.param(
        f'{HEAD} logid="0419016384" type="utm" subtype="ips" eventtype="signature" level="alert" '
        'severity="info" action="detected" attack="HTTP.Unknown.Tunnelling"',
        {"level": "info", "action": "detected"},
        ("ips", 0, 100142),
        id="ips-informational-detected",
    ),
    pytest.param(
        f'{HEAD} logid="0720018432" type="utm" subtype="anomaly" eventtype="anomaly" level="alert" '
        'severity="critical" srcip=198.51.100.70 dstip=192.168.1.1 action="clear_session" '
        'attack="tcp_syn_flood" count=1904',
        {"subtype": "anomaly", "signature": "tcp_syn_flood", "level": "critical"},
        ("anomaly", 3, 100145),
        id="anomaly-utm",
    ),
    pytest.param(
        f'{HEAD} logid="0720018433" type="anomaly" subtype="anomaly" level="alert" severity="medium" '
        'action="detected" attack="udp_scan"',
        {"kind": "utm", "subtype": "anomaly", "level": "medium"},
        ("anomaly", 2, 100146),
        id="anomaly-type",
    ),
    pytest.param(
        f'{HEAD} logid="1059028705" type="utm" subtype="app-ctrl" eventtype="signature" level="information" '
        'action="pass" app="Microsoft.Windows.Update" appcat="Update" apprisk="low"',
        {"signature": "Microsoft.Windows.Update", "group": "Update", "level": "low"},
        ("app-control", 0, 100171),
        id="app-ctrl-windows-update-allowed",
    ),
    pytest.param(
        f'{HEAD} logid="1059028704" type="utm" subtype="app-ctrl" eventtype="signature" level="warning" '
        'action="block" app="BitTorrent" appcat="P2P" apprisk="high"',
        {"signature": "BitTorrent", "group": "P2P"},
        ("app-control", 2, 100170),
        id="app-ctrl-p2p-blocked",
    ),
    pytest.param(
        f'{HEAD} logid="1501054400" type="utm" subtype="dns" eventtype="dns-query" level="information" '
        'srcip=192.168.1.60 dstip=192.168.1.1 action="pass" qname="www.example.jp" qtype="A"',
        {"signature": "www.example.jp", "url": "www.example.jp"},
        ("dns-filter", 0, 100161),
        id="dns-informational-query",
    ),
    pytest.param(
        f'{HEAD} logid="1501054802" type="utm" subtype="dns" eventtype="dns-response" level="warning" '
        'action="block" qname="c2.bad.example" botnetdomain="c2.bad.example"',
        {"signature": "c2.bad.example", "group": "Botnet C&C"},
        ("botnet", 3, 100110),
        id="dns-botnet",
    ),
    pytest.param(
        f'{HEAD} logid="1501054601" type="utm" subtype="dns" eventtype="dns-response" level="warning" '
        'action="redirect" qname="ads.example" catdesc="Advertising"',
        {"group": "Advertising", "action": "redirect"},
        ("dns-filter", 2, 100160),
        id="dns-redirected",
    ),
    pytest.param(
        f'{HEAD} logid="0954024576" type="utm" subtype="dlp" eventtype="dlp" level="warning" '
        'severity="high" filtertype="credit-card" filtercat="message" action="block" '
        "srcip=192.168.1.70 dstip=203.0.113.80",
        {"subtype": "dlp", "signature": "credit-card", "level": "high"},
        ("dlp", 3, 100180),
        id="dlp-high",
    ),
    pytest.param(
        f'{HEAD} logid="0954024577" type="utm" subtype="dlp" level="notice" severity="medium" '
        'filtertype="file-type" action="log-only"',
        {"action": "log-only"},
        ("dlp", 2, 100181),
        id="dlp-logged",
    ),
    pytest.param(
        f'{HEAD} logid="0508020503" type="utm" subtype="emailfilter" eventtype="spam" level="notice" '
        'action="blocked" from="promo@spam.example" subject="You won"',
        {"signature": "You won", "user": "promo@spam.example"},
        ("email-filter", 1, 100185),
        id="emailfilter-spam",
    ),
    pytest.param(
        f'{HEAD} logid="1700062300" type="utm" subtype="ssl" eventtype="ssl-anomalies" level="warning" '
        'action="blocked" hostname="self-signed.example" reason="untrusted-cert"',
        {"group": "untrusted-cert", "url": "self-signed.example"},
        ("ssl", 2, 100191),
        id="ssl-blocked",
    ),
    pytest.param(
        f'{HEAD} logid="1700062302" type="utm" subtype="ssl" eventtype="ssl-exempt" level="information" '
        'action="exempt" hostname="bank.example"',
        {"signature": "ssl-exempt"},
        ("ssl", 0, 100190),
        id="ssl-exempt",
    ),
    pytest.param(
        f'{HEAD} logid="1200030248" type="utm" subtype="waf" eventtype="waf-signature" level="warning" '
        'severity="high" action="blocked" name="SQL Injection" url="/login.php"',
        {"signature": "SQL Injection", "level": "high"},
        ("waf", 3, 100195),
        id="waf-high",
    ),
    pytest.param(
        f'{HEAD} logid="1900064000" type="utm" subtype="file-filter" eventtype="file-filter" level="warning" '
        'action="blocked" filename="setup.exe" filetype="exe"',
        {"signature": "setup.exe", "group": "exe"},
        ("other", 1, 100200),
        id="file-filter",
    ),
    pytest.param(
        f'{HEAD} logid="0100032001" type="event" subtype="system" level="information" '
        'logdesc="Admin login successful" msg="Administrator admin logged in successfully"',
        {"kind": "event", "subtype": "system", "signature": "Admin login successful"},
        ("system", 0, 100103),
        id="event-system",
    ),
]


@pytest.mark.parametrize(("line", "expected", "outcome"), ROWS)
def test_decodes_and_classifies(line: str, expected: dict[str, str], outcome: tuple[str, int, int]) -> None:
    event = decode(line.encode())
    assert (event.vendor, event.format) == ("fortinet", "fortigate-kv")
    assert (event.serial, event.device_name) == (DEVID, "FGT60F-Tokyo")
    assert event.occurred_at == AT
    for name, value in expected.items():
        assert getattr(event, name) == value, name
    result = CLASSIFIER.classify(event)
    assert (result.category.key, result.severity, result.rule_id) == outcome


def test_line_without_devid_is_tied_by_devname_and_local_time() -> None:
    event = decode(
        b'date=2026-11-30 time=10:15:00 devname="FGT60F-Osaka" logid="0419016384" type="utm" '
        b'subtype="ips" level="alert" severity="medium" action="dropped" attack="SSH.Brute.Force"'
    )
    assert (event.serial, event.device_name, event.sender) == ("", "FGT60F-Osaka", "")
    assert event.occurred_at == AT  # no tz: the unit's JST
    assert CLASSIFIER.classify(event).rule_id == 100141


def test_line_without_devid_nor_devname_is_tied_by_the_sending_host() -> None:
    event = decode(
        b'date=2026-11-30 time=01:15:00 tz="+0000" logid="0211008192" type="utm" subtype="virus" '
        b'action="blocked" virus="EICAR_TEST_FILE"',
        sender="192.0.2.10",
    )
    assert (event.serial, event.device_name, event.sender) == ("", "", "192.0.2.10")
    assert event.occurred_at == AT


def test_header_words_inside_a_quoted_value_change_nothing() -> None:
    event = decode(
        f'{HEAD} logid="0419016384" type="utm" subtype="ips" level="alert" severity="critical" '
        'action="dropped" attack="Shellshock" '
        'agent="curl/8 tz=+0100 devid=EVIL type=traffic action=pass"'.encode()
    )
    assert (event.serial, event.kind, event.subtype, event.action) == (DEVID, "utm", "ips", "dropped")
    assert event.fields["agent"] == "curl/8 tz=+0100 devid=EVIL type=traffic action=pass"
    assert CLASSIFIER.classify(event).rule_id == 100140


def test_duplicate_keys_first_occurrence_wins() -> None:
    event = decode(
        f'{HEAD} logid="0419016384" type="utm" subtype="ips" severity="critical" action="dropped" '
        f'attack="X" subtype="virus" action="passthrough" devid="OTHER"'.encode()
    )
    assert (event.serial, event.subtype, event.action) == (DEVID, "ips", "dropped")
    assert CLASSIFIER.classify(event).category.key == "ips"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param(f'{HEAD} type="utm" subtype="ips" attack="open', "unterminated", id="open-quote"),
        pytest.param(f'{HEAD} type="utm" subtype="ips" msg="a"b', "no space after", id="junk-after-quote"),
        pytest.param(f'{HEAD} type="utm" ) subtype="ips"', "not a key=value pair", id="junk-between"),
        pytest.param('devid="X1" logid="1"', "no known vendor", id="no-type"),
        pytest.param(
            'date=2026-11-30 time=10:15:00 type="utm" subtype="ips"', "no unit identity", id="no-unit"
        ),
        pytest.param('eventtime=-5 devid="X1" type="traffic"', "invalid eventtime", id="negative-eventtime"),
        pytest.param(
            'eventtime=99999999999999999999999 devid="X1" type="traffic"', "eventtime", id="huge-eventtime"
        ),
        pytest.param('date=0001-01-01 time=00:00:00 devid="X1" type="traffic"', "out of range", id="year-1"),
        pytest.param(
            'date=2026-11-30 time=10:15:00 tz="+2500" devid="X1" type="traffic"', "time zone", id="bad-tz"
        ),
        pytest.param('date=2026-11-30 time=25:61:00 devid="X1" type="traffic"', "date/time", id="bad-clock"),
        pytest.param(f'{HEAD} type="utm" level="warning"', "subtype", id="utm-without-subtype"),
    ],
)
def test_rejects_malformed_lines(line: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(line.encode())
