"""What the rules file becomes once validated: rules, category texts and the error of each mistake.

Rules files written here by hand; expected values by hand.
"""

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alert_pipeline import classifier as classifier_module
from alert_pipeline.classifier import Classifier, Rule, RulesError, _neutral_of, default_classifier
from alert_pipeline.decoders import NeutralEvent
from alert_pipeline.parsing import ParsedEvent, from_neutral, parse_record

THREATS = (
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
CATEGORIES = "".join(
    f'[categories.{c}]\nsummary="s-{c}"\nexplanation="e-{c}"\nremedy="r-{c}"\n' for c in THREATS if c != "ips"
) + (
    '[categories.ips]\nsummary="侵入をブロックしました"\nsummary_allowed="侵入を検知しました"\n'
    'explanation="説明"\nremedy="対処"\n'
)
CATCH_ALL = '[[rules]]\nid=100999\ncategory="other"\nseverity=1\n'
FULL_RULE = """[[rules]]
id = 100100
description = "Admin logins from the outside"
category = "ips"
severity = 3
vendor = ["Fortinet", "SOPHOS"]
kind = "Event"
subtype = ["System"]
action = "Login"
level = ["Alert", "critical"]
signature = "brute"
group = "^admin$"
match = "force"
[rules.fields]
user = "^root$"
"""


def _event(vendor: str, kind: str, **values: Any) -> NeutralEvent:
    return NeutralEvent(
        vendor=vendor, format="test", occurred_at=datetime(2026, 1, 5, tzinfo=UTC), kind=kind, **values
    )


def _rule(body: str) -> str:
    return CATEGORIES + "[[rules]]\nid=100100\n" + body + CATCH_ALL


def test_a_rule_keeps_every_condition_in_lower_case() -> None:
    rule = Classifier.from_toml(CATEGORIES + FULL_RULE + CATCH_ALL).rule(100100)
    assert rule.description == "Admin logins from the outside"
    assert rule.category == "ips"
    assert rule.severity == 3
    assert rule.vendor == frozenset({"fortinet", "sophos"})
    assert rule.kind == frozenset({"event"})
    assert rule.subtype == frozenset({"system"})
    assert rule.action == frozenset({"login"})
    assert rule.level == frozenset({"alert", "critical"})
    assert rule.signature is not None
    assert rule.signature.pattern == "brute"
    assert rule.group is not None
    assert rule.group.pattern == "^admin$"
    assert rule.match is not None
    assert rule.match.pattern == "force"
    assert [(name, p.pattern) for name, p in rule.fields] == [("user", "^root$")]
    patterns = (rule.signature, rule.group, rule.match, rule.fields[0][1])
    assert all(p.flags & re.IGNORECASE for p in patterns)
    assert rule.signature.search("BRUTE")
    assert not rule.is_catch_all


def test_the_catch_all_rule_and_rule_lookup() -> None:
    classifier = Classifier.from_toml(CATEGORIES + FULL_RULE + CATCH_ALL)
    assert [r.id for r in classifier.rules] == [100100, 100999]
    catch_all = classifier.rule(100999)
    assert catch_all == Rule(id=100999, description="", category="other", severity=1)
    assert catch_all.is_catch_all
    with pytest.raises(KeyError) as info:
        classifier.rule(100500)
    assert info.value.args == (100500,)


def test_the_full_rule_matches_only_with_its_decoded_field() -> None:
    classifier = Classifier.from_toml(CATEGORIES + FULL_RULE + CATCH_ALL)
    values = {
        "subtype": "system",
        "action": "login",
        "level": "critical",
        "signature": "Brute force",
        "group": "admin",
    }
    root = classifier.classify(_event("fortinet", "event", fields={"user": "root"}, **values))
    assert (root.category.key, root.severity, root.rule_id) == ("ips", 3, 100100)
    other = classifier.classify(_event("fortinet", "event", fields={"user": "alice"}, **values))
    assert other.rule_id == 100999


def test_category_texts_names_and_the_allowed_summary() -> None:
    categories = Classifier.from_toml(CATEGORIES + CATCH_ALL).categories
    ips = categories["ips"]
    assert (ips.key, ips.name) == ("ips", "不正侵入防御(IPS)")
    assert (ips.summary, ips.summary_allowed) == ("侵入をブロックしました", "侵入を検知しました")
    assert (ips.explanation, ips.remedy) == ("説明", "対処")
    assert ips.is_threat
    waf = categories["waf"]
    assert (waf.summary, waf.summary_allowed, waf.explanation, waf.remedy) == (
        "s-waf",
        "s-waf",
        "e-waf",
        "r-waf",
    )
    traffic = categories["traffic"]
    assert (traffic.key, traffic.name) == ("traffic", "通信")
    assert (traffic.summary, traffic.summary_allowed, traffic.explanation, traffic.remedy) == ("", "", "", "")
    assert not traffic.is_threat


def test_a_non_threat_category_may_have_texts() -> None:
    text = CATEGORIES + '[categories.system]\nsummary="sys"\nexplanation="e"\nremedy="r"\n' + CATCH_ALL
    system = Classifier.from_toml(text).categories["system"]
    assert (system.name, system.summary, system.summary_allowed, system.remedy) == (
        "システム",
        "sys",
        "sys",
        "r",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories = 3\n" + CATCH_ALL, "[categories] must be a table"),
        (
            CATEGORIES.replace('remedy="r-waf"\n', "") + CATCH_ALL,
            "category 'waf' lacks remedy",
        ),
        (
            _rule('category="ips"\nseverity=1\nvendor=3\n'),
            "rule 100100: vendor must be a string or a list of strings",
        ),
        (
            _rule('category="ips"\nseverity=1\nkind=[1]\n'),
            "rule 100100: kind must be a string or a list of strings",
        ),
        (
            _rule('category="ips"\nseverity=1\nsubtype=2\n'),
            "rule 100100: subtype must be a string or a list of strings",
        ),
        (
            _rule('category="ips"\nseverity=1\naction=2\n'),
            "rule 100100: action must be a string or a list of strings",
        ),
        (
            _rule('category="ips"\nseverity=1\nlevel=2\n'),
            "rule 100100: level must be a string or a list of strings",
        ),
        (
            _rule('category="ips"\nseverity=1\nsignature=2\n'),
            "rule 100100: signature must be a regular expression string",
        ),
        (
            _rule('category="ips"\nseverity=1\ngroup=2\n'),
            "rule 100100: group must be a regular expression string",
        ),
        (
            _rule('category="ips"\nseverity=1\nmatch=2\n'),
            "rule 100100: match must be a regular expression string",
        ),
        (_rule('category="ips"\nseverity=1\nfields=2\n'), "rule 100100: fields must be a table"),
        (
            _rule('category="ips"\nseverity=1\nfields={user=2}\n'),
            "rule 100100: fields.user must be a regular expression string",
        ),
        (
            _rule('category="ips"\nseverity=1\nfields={user="("}\n'),
            "rule 100100: invalid fields.user pattern '(': ",
        ),
        (_rule('category="ips"\nseverity="1"\n'), "rule 100100 has severity '1'; 0, 1, 2 or 3 expected"),
        (_rule('category="ips"\nseverity=4\n'), "rule 100100 has severity 4; 0, 1, 2 or 3 expected"),
        (
            _rule('category="traffic"\nseverity=1\n'),
            "rule 100100: 'traffic' is not a threat; its severity must be 0",
        ),
        (CATEGORIES, "the last rule must have no conditions so that every event is classified"),
        (
            CATEGORIES + '[[rules]]\nid=120000\ncategory="other"\nseverity=1\n',
            "rule ID 120000 must be a number",
        ),
    ],
)
def test_each_mistake_has_its_own_message(text: str, message: str) -> None:
    with pytest.raises(RulesError) as info:
        Classifier.from_toml(text)
    assert str(info.value).startswith(message)


def test_severity_zero_and_three_are_accepted() -> None:
    text = (
        CATEGORIES
        + '[[rules]]\nid=100100\ncategory="traffic"\nseverity=0\nkind="traffic"\n'
        + '[[rules]]\nid=100101\ncategory="ips"\nseverity=3\nkind="ips"\n'
        + CATCH_ALL
    )
    classifier = Classifier.from_toml(text)
    assert [(r.id, r.severity) for r in classifier.rules] == [(100100, 0), (100101, 3), (100999, 1)]


def test_an_empty_file_is_refused_for_its_missing_categories() -> None:
    with pytest.raises(RulesError) as info:
        Classifier.from_toml("")
    assert str(info.value).startswith("threat categories without texts: ['anomaly', 'antivirus',")


def test_a_file_with_categories_but_no_rules_is_refused() -> None:
    with pytest.raises(RulesError) as info:
        Classifier.from_toml(CATEGORIES)
    assert str(info.value) == "the last rule must have no conditions so that every event is classified"


def test_a_rules_file_is_loaded_from_its_path(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(CATEGORIES + FULL_RULE + CATCH_ALL, encoding="utf-8")
    classifier = Classifier.load(path)
    assert [r.id for r in classifier.rules] == [100100, 100999]
    assert classifier.categories["ips"].summary == "侵入をブロックしました"
    assert [r.id for r in Classifier.load(str(path)).rules] == [100100, 100999]


def test_the_packaged_rules_are_loaded_once() -> None:
    first = default_classifier()
    assert first is default_classifier()
    assert first.rule(100630).category == "ips"
    assert Classifier.load().rule(100630).category == "ips"


def test_a_parsed_event_built_by_hand_becomes_this_neutral_event() -> None:
    event = ParsedEvent(
        serial_number="FGT60F0000000001",
        occurred_at=datetime(2026, 1, 5, 3, 4, 5, tzinfo=UTC),
        kind="ips",
        event_key="k-1",
        action="BLOCKED",
        level="Critical",
        signature="Exploit.X",
        group="exploits",
        src_ip="198.51.100.7",
        dst_ip="192.0.2.10",
        url="http://bad.example/",
        message="attack",
    )
    assert _neutral_of(event) == NeutralEvent(
        vendor="watch",
        format="utm-event-json",
        occurred_at=datetime(2026, 1, 5, 3, 4, 5, tzinfo=UTC),
        kind="ips",
        serial="FGT60F0000000001",
        action="blocked",
        level="critical",
        signature="Exploit.X",
        group="exploits",
        src_ip="198.51.100.7",
        dst_ip="192.0.2.10",
        url="http://bad.example/",
        message="attack",
        event_key="k-1",
    )


def test_a_parsed_event_keeps_its_sender_and_neutral_event() -> None:
    line = b'date=2026-01-05 time=12:04:05 type="event" subtype="system" level="notice" msg="ok"'
    parsed = parse_record(line, sender="fw1.example")
    assert parsed.sender == "fw1.example"
    assert parsed.neutral is not None
    assert parsed.neutral.sender == "fw1.example"
    event = _event("fortinet", "event", sender="10.0.0.9")
    outcome = default_classifier().classify(event)
    rebuilt = from_neutral(event, outcome)
    assert rebuilt.neutral is event
    assert rebuilt.sender == "10.0.0.9"


def test_the_core_refusing_a_file_is_a_rules_error() -> None:
    with pytest.raises(RulesError) as info:
        Classifier({}, [], text="x = [")
    assert str(info.value).startswith("rules file is not valid TOML: TOML parse error at line 1, column 6")
    with pytest.raises(RulesError) as info:
        Classifier({}, [], text=CATEGORIES + CATCH_ALL, formats="x = [")
    assert str(info.value).startswith("formats file is not valid TOML: TOML parse error at line 1, column 6")


def test_the_packaged_rules_are_loaded_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classifier_module, "_DEFAULT", None)
    first = default_classifier()
    assert first.rule(100630).category == "ips"
    assert default_classifier() is first
