"""The rule engine and the rules shipped in rules.toml: category, severity and rule ID, written by hand."""

from datetime import UTC, datetime

import pytest

from alert_pipeline.classifier import SEVERITY_LABELS, Classifier, RulesError
from alert_pipeline.decoders import NeutralEvent
from alert_pipeline.parsing import ParsedEvent, parse_record

CLASSIFIER = Classifier.load()


def _event(vendor: str, kind: str, subtype: str = "", **values: str) -> NeutralEvent:
    return NeutralEvent(
        vendor=vendor,
        format="test",
        occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
        kind=kind,
        subtype=subtype,
        **values,
    )


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        (
            _event("fortinet", "utm", "webfilter", action="blocked", level="warning", group="Pornography"),
            ("webfilter", 2, 100151),
        ),
        (
            _event("fortinet", "utm", "webfilter", action="passthrough", group="Games"),
            ("webfilter", 1, 100152),
        ),
        (
            _event("fortinet", "utm", "webfilter", action="blocked", group="Phishing"),
            ("webfilter", 3, 100150),
        ),
        (
            _event("fortinet", "utm", "virus", action="blocked", signature="EICAR_TEST_FILE"),
            ("antivirus", 2, 100132),
        ),
        (
            _event("fortinet", "utm", "virus", action="passthrough", signature="EICAR_TEST_FILE"),
            ("antivirus", 3, 100130),
        ),
        (
            _event("fortinet", "utm", "virus", action="blocked", signature="W32/Emotet.A!tr"),
            ("antivirus", 3, 100131),
        ),
        (_event("fortinet", "utm", "sandbox", action="analytics"), ("sandbox", 0, 100123)),
        (_event("fortinet", "utm", "sandbox", action="blocked", group="high risk"), ("sandbox", 3, 100120)),
        (
            _event("fortinet", "utm", "sandbox", action="passthrough", group="med risk"),
            ("sandbox", 2, 100121),
        ),
        (_event("fortinet", "utm", "sandbox", group="clean"), ("sandbox", 0, 100123)),
        (_event("fortinet", "utm", "ips", action="dropped", level="critical"), ("ips", 3, 100140)),
        (_event("fortinet", "utm", "ips", action="dropped", level="medium"), ("ips", 2, 100141)),
        (_event("fortinet", "utm", "ips", action="detected", level="low"), ("ips", 1, 100143)),
        (
            _event("fortinet", "utm", "ips", action="dropped", level="high", signature="Zeus.Botnet"),
            ("botnet", 3, 100111),
        ),
        (
            _event("fortinet", "utm", "app-ctrl", action="block", signature="BitTorrent", group="P2P"),
            ("app-control", 2, 100170),
        ),
        (
            _event(
                "fortinet",
                "utm",
                "app-ctrl",
                action="pass",
                signature="Dropbox",
                group="Storage.Backup",
                level="elevated",
            ),
            ("app-control", 1, 100173),
        ),
        (
            _event("fortinet", "utm", "app-ctrl", action="block", signature="Conficker", group="Botnet"),
            ("botnet", 3, 100110),
        ),
        (
            _event("fortinet", "utm", "dns", action="pass", level="information", signature="www.example.jp"),
            ("dns-filter", 0, 100161),
        ),
        (
            _event("fortinet", "utm", "dns", action="block", signature="ads.example", group="Advertising"),
            ("dns-filter", 2, 100160),
        ),
        (_event("fortinet", "utm", "dlp", action="block", level="low"), ("dlp", 2, 100181)),
        (_event("fortinet", "utm", "waf", action="blocked", level="critical"), ("waf", 3, 100195)),
        (
            _event("fortinet", "utm", "emailfilter", action="tagged", level="notice"),
            ("email-filter", 1, 100185),
        ),
        (_event("fortinet", "utm", "voip", action="blocked"), ("other", 1, 100299)),
        (_event("fortinet", "traffic", "forward", action="block", group="P2P"), ("app-control", 1, 100101)),
        (_event("fortinet", "traffic", "forward", action="accept", group="P2P"), ("traffic", 0, 100102)),
        (_event("fortinet", "traffic", "forward", action="block"), ("traffic", 0, 100102)),
        (_event("watch", "botnet", action="blocked", signature="Mirai"), ("botnet", 3, 100610)),
        (_event("someone-else", "whatever"), ("other", 1, 100999)),
    ],
)
def test_rules(event: NeutralEvent, outcome: tuple[str, int, int]) -> None:
    result = CLASSIFIER.classify(event)
    assert (result.category.key, result.severity, result.rule_id) == outcome
    assert result.is_threat == (outcome[1] > 0)


def test_names_come_from_shared_labels() -> None:
    result = CLASSIFIER.classify(_event("fortinet", "utm", "ips", level="critical"))
    assert result.category.name == "不正侵入防御(IPS)"
    assert CLASSIFIER.classify(_event("fortinet", "utm", "dlp")).category.name == "情報漏えい防止(DLP)"
    assert CLASSIFIER.classify(_event("fortinet", "traffic")).category.name == "通信"
    assert SEVERITY_LABELS[3] == "★★★(高)"


def test_every_threat_category_has_texts_and_is_reachable() -> None:
    threats = {
        "webfilter",
        "antivirus",
        "ips",
        "anomaly",
        "app-control",
        "botnet",
        "dns-filter",
        "dlp",
        "email-filter",
        "sandbox",
        "ssl",
        "waf",
        "other",
    }
    assert {r.category for r in CLASSIFIER.rules} >= threats | {"traffic", "system"}
    for code in threats:
        category = CLASSIFIER.categories[code]
        texts = (category.summary, category.summary_allowed, category.explanation, category.remedy)
        assert all(texts), code


def test_rule_ids_are_unique_and_in_the_local_range() -> None:
    ids = [r.id for r in CLASSIFIER.rules]
    assert len(ids) == len(set(ids))
    assert all(100000 <= i < 120000 for i in ids)


def test_blocked_traffic_reads_like_the_guide() -> None:
    line = (
        b'date=2026-01-05 time=12:04:05 devid="S1" type="utm" subtype="webfilter" level="warning" '
        b'action="blocked" hostname="bad.example" url="/" catdesc="Pornography"'
    )
    outcome = CLASSIFIER.classify(parse_record(line))
    assert outcome.summary == "UTMが有害サイトへのアクセスを検知したため通信をブロックしました。"
    assert (
        outcome.category.explanation
        == "本サービスにおいて有害サイトとして登録されたサイトにアクセスしています。"
    )
    assert outcome.category.remedy.startswith(
        "送信元の端末の利用者に対して、アクセス先URLへのアクセスの有無を確認し"
    )


def test_detected_but_passed_traffic_says_so() -> None:
    outcome = CLASSIFIER.classify(_event("fortinet", "utm", "virus", action="passthrough"))
    assert outcome.summary == "UTMがウイルスを検知しました。"


def test_a_parsed_event_built_by_hand_is_read_as_the_projects_json() -> None:
    event = ParsedEvent(
        serial_number="S1", occurred_at=datetime(2026, 1, 5, tzinfo=UTC), kind="ips", level="critical"
    )
    assert CLASSIFIER.classify(event).rule_id == 100630


CATEGORIES = "".join(
    f'[categories.{c}]\nsummary="s"\nexplanation="e"\nremedy="r"\n'
    for c in (
        "webfilter",
        "antivirus",
        "ips",
        "anomaly",
        "app-control",
        "botnet",
        "dns-filter",
        "dlp",
        "email-filter",
        "sandbox",
        "ssl",
        "waf",
        "other",
    )
)
CATCH_ALL = '[[rules]]\nid=100999\ncategory="other"\nseverity=1\n'


def test_a_minimal_rules_file_loads() -> None:
    classifier = Classifier.from_toml(
        CATEGORIES + '[[rules]]\nid=100100\nvendor="x"\ncategory="ips"\nseverity=2\n' + CATCH_ALL
    )
    assert classifier.classify(_event("x", "k")).rule_id == 100100
    assert classifier.classify(_event("y", "k")).rule_id == 100999


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CATEGORIES + '[[rules]]\nid=100100\ncategory="nope"\nseverity=1\n' + CATCH_ALL, "unknown category"),
        (CATEGORIES + '[[rules]]\nid=100100\ncategory="ips"\nseverity=4\n' + CATCH_ALL, "severity"),
        (CATEGORIES + '[[rules]]\nid=100100\ncategory="traffic"\nseverity=1\n' + CATCH_ALL, "not a threat"),
        (CATEGORIES + '[[rules]]\nid=100100\ncategory="ips"\nseverity=1\nkind="virus"\n', "last rule"),
        (
            CATEGORIES + '[[rules]]\nid=100100\ncategory="ips"\nseverity=1\nsignature="("\n' + CATCH_ALL,
            "pattern",
        ),
        (
            CATEGORIES + '[[rules]]\nid=100100\ncategory="ips"\nseverity=1\ncolour="red"\n' + CATCH_ALL,
            "unknown keys",
        ),
        (
            CATEGORIES + '[[rules]]\nid=100999\ncategory="ips"\nseverity=1\nkind="x"\n' + CATCH_ALL,
            "used twice",
        ),
        (CATEGORIES + '[[rules]]\nid=5\ncategory="ips"\nseverity=1\n', "100000"),
        (
            CATEGORIES + '[categories.malware]\nsummary="s"\nexplanation="e"\nremedy="r"\n' + CATCH_ALL,
            "unknown category codes",
        ),
        ('[categories.ips]\nsummary="s"\nexplanation="e"\nremedy="r"\n' + CATCH_ALL, "without texts"),
        ("not [ toml", "not valid TOML"),
    ],
)
def test_inconsistent_rules_are_refused(text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        Classifier.from_toml(text)
