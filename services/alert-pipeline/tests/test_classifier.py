"""Table-driven tests of the classification rules shipped in rules.toml."""

from datetime import UTC, datetime

import pytest

from alert_pipeline.classifier import Classifier, RulesError
from alert_pipeline.parsing import ParsedEvent, parse_record

CLASSIFIER = Classifier.load()


def _event(
    kind: str, *, action: str = "", level: str = "", signature: str = "", group: str = ""
) -> ParsedEvent:
    return ParsedEvent(
        serial_number="S1",
        occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
        kind=kind,
        event_key="k",
        action=action,
        level=level,
        signature=signature,
        group=group,
    )


@pytest.mark.parametrize(
    ("event", "category", "severity"),
    [
        (_event("webfilter", action="blocked", level="warning", group="Pornography"), "Webガード", 2),
        (_event("webfilter", action="passthrough", group="Games"), "Webガード", 1),
        (_event("webfilter", action="blocked", group="Phishing"), "Webガード", 3),
        (_event("virus", action="blocked", signature="EICAR_TEST_FILE"), "アンチウイルス", 2),
        (_event("virus", action="passthrough", signature="EICAR_TEST_FILE"), "アンチウイルス", 3),
        (_event("virus", action="blocked", signature="W32/Emotet.A!tr"), "アンチウイルス", 3),
        (
            _event("ips", action="dropped", level="critical", signature="Apache.Log4j.RCE"),
            "不正侵入防御(IPS)",
            3,
        ),
        (
            _event("ips", action="dropped", level="medium", signature="SSH.Brute.Force"),
            "不正侵入防御(IPS)",
            2,
        ),
        (
            _event("ips", action="detected", level="low", signature="HTTP.URI.SQL.Injection"),
            "不正侵入防御(IPS)",
            1,
        ),
        (_event("ips", action="dropped", level="high", signature="Zeus.Botnet"), "C&C/ボット通信", 3),
        (_event("app-ctrl", action="block", signature="BitTorrent", group="P2P"), "アプリケーション制御", 2),
        (
            _event("app-ctrl", action="pass", signature="Dropbox", group="Storage.Backup"),
            "アプリケーション制御",
            1,
        ),
        (_event("app-ctrl", action="block", signature="Conficker", group="Botnet"), "C&C/ボット通信", 3),
        (_event("botnet", action="blocked", signature="Mirai"), "C&C/ボット通信", 3),
        (_event("dns", action="block", signature="c2.evil.example", group="Botnet"), "C&C/ボット通信", 3),
        (_event("dns", action="block", signature="ads.example", group="Advertising"), "DNSフィルタ", 2),
        (_event("waf", action="blocked", level="critical"), "その他の脅威", 2),
        (_event("emailfilter", action="tagged", level="notice"), "その他の脅威", 1),
    ],
)
def test_classifies_by_category_action_level_and_signature(
    event: ParsedEvent, category: str, severity: int
) -> None:
    outcome = CLASSIFIER.classify(event)
    assert (outcome.category.name, outcome.severity) == (category, severity)


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
    outcome = CLASSIFIER.classify(_event("virus", action="passthrough"))
    assert outcome.summary == "UTMがウイルスを検知しました。"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[categories.a]\nname="A"\nsummary="s"\nexplanation="e"\nremedy="r"\n[[rules]]\ncategory="b"\nseverity=1\n',
            "unknown category",
        ),
        (
            '[categories.a]\nname="A"\nsummary="s"\nexplanation="e"\nremedy="r"\n[[rules]]\ncategory="a"\nseverity=4\n',
            "severity",
        ),
        (
            '[categories.a]\nname="A"\nsummary="s"\nexplanation="e"\nremedy="r"\n'
            '[[rules]]\ncategory="a"\nseverity=1\nkind="virus"\n',
            "last rule",
        ),
        (
            '[categories.a]\nname="A"\nsummary="s"\nexplanation="e"\nremedy="r"\n'
            '[[rules]]\ncategory="a"\nseverity=1\nsignature="("\n[[rules]]\ncategory="a"\nseverity=1\n',
            "pattern",
        ),
        (
            '[categories.a]\nname="A"\nsummary="s"\nexplanation="e"\nremedy="r"\n'
            '[[rules]]\ncategory="a"\nseverity=1\ncolour="red"\n',
            "unknown keys",
        ),
    ],
)
def test_inconsistent_rules_are_refused(text: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        Classifier.from_toml(text)
