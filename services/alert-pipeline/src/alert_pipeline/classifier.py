"""The rule engine: category and severity of a decoded event, by the rules of ``rules.toml``.

Every rule has an ID (numbered as Wazuh numbers local rules) and conditions on the neutral event
(vendor, kind, subtype, action, level, signature, group, decoded fields); the first rule whose
conditions all hold gives the category (a code of ``shared.labels``) and the severity, 0 meaning
"no alert" and 1–3 ★☆☆–★★★. The rules file is described at its top.

The file is validated here (clear errors naming the rule) and matched by the compiled core
(``utm_core``), the same engine the ingest runs on whole batches.
"""

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alert_pipeline import core
from alert_pipeline.decoders import NeutralEvent
from shared.labels import NON_THREAT_CATEGORIES, THREAT_CATEGORIES, category_name, severity_label

if TYPE_CHECKING:
    from alert_pipeline.parsing import ParsedEvent

SEVERITY_LABELS: Mapping[int, str] = {s: severity_label(s) for s in (1, 2, 3)}
RULE_ID_RANGE = range(100000, 120000)
_CONDITION_KEYS = ("vendor", "kind", "subtype", "action", "level")
_PATTERN_KEYS = ("signature", "group", "match")
_RULE_KEYS = frozenset(
    {"id", "description", "category", "severity", "fields", *_CONDITION_KEYS, *_PATTERN_KEYS}
)


@dataclass(frozen=True, slots=True)
class Category:
    """A category code, its Japanese name (from shared.labels) and the texts of its alerts."""

    key: str
    name: str
    summary: str
    summary_allowed: str
    explanation: str
    remedy: str

    @property
    def is_threat(self) -> bool:
        return self.key in THREAT_CATEGORIES


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the rules file: its ID, conditions and outcome."""

    id: int
    description: str
    category: str
    severity: int
    vendor: frozenset[str] | None = None
    kind: frozenset[str] | None = None
    subtype: frozenset[str] | None = None
    action: frozenset[str] | None = None
    level: frozenset[str] | None = None
    signature: re.Pattern[str] | None = None
    group: re.Pattern[str] | None = None
    match: re.Pattern[str] | None = None
    fields: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @property
    def is_catch_all(self) -> bool:
        return not any(getattr(self, k) is not None for k in (*_CONDITION_KEYS, *_PATTERN_KEYS)) and (
            not self.fields
        )


@dataclass(frozen=True, slots=True)
class Classification:
    """The outcome for one event: category, severity (0 = no alert) and the rule that decided."""

    category: Category
    severity: int
    blocked: bool
    rule_id: int

    @property
    def is_threat(self) -> bool:
        """Whether the event is an alert (severity 1–3)."""
        return self.severity > 0

    @property
    def summary(self) -> str:
        return self.category.summary if self.blocked else self.category.summary_allowed


class RulesError(ValueError):
    """The rules file is inconsistent."""


class Classifier:
    """Applies the first matching rule to a decoded event."""

    def __init__(
        self, categories: Mapping[str, Category], rules: list[Rule], *, text: str, formats: str | None = None
    ) -> None:
        self.categories = dict(categories)
        self.rules = rules
        try:
            self.engine = core.engine(text, formats)
        except ValueError as exc:
            raise RulesError(str(exc)) from exc

    @classmethod
    def from_toml(cls, text: str) -> "Classifier":
        """Build a classifier from the text of a rules file."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RulesError(f"rules file is not valid TOML: {exc}") from exc
        categories = _categories(data.get("categories", {}))
        rules = [_rule(raw, categories) for raw in data.get("rules", [])]
        seen: set[int] = set()
        for rule in rules:
            if rule.id in seen:
                raise RulesError(f"rule ID {rule.id} is used twice")
            seen.add(rule.id)
        if not rules or not rules[-1].is_catch_all:
            raise RulesError("the last rule must have no conditions so that every event is classified")
        return cls(categories, rules, text=text)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Classifier":
        """Load ``path``, or the rules file shipped with the package."""
        if path:
            return cls.from_toml(Path(path).read_text(encoding="utf-8"))
        return cls.from_toml(core.packaged_rules())

    def classify(self, event: "NeutralEvent | ParsedEvent") -> Classification:
        """Category, severity and rule ID of an event."""
        neutral = event if isinstance(event, NeutralEvent) else _neutral_of(event)
        code, severity, blocked, rule_id = self.engine.classify(
            {
                "vendor": neutral.vendor,
                "kind": neutral.kind,
                "subtype": neutral.subtype,
                "action": neutral.action,
                "level": neutral.level,
                "signature": neutral.signature,
                "group": neutral.group,
                "fields": neutral.fields,
            }
        )
        return self.outcome(code, severity, blocked, rule_id)

    def outcome(self, code: str, severity: int, blocked: bool, rule_id: int) -> Classification:
        """The Classification of the core's (category code, severity, blocked, rule ID)."""
        return Classification(
            category=self.categories[code], severity=severity, blocked=blocked, rule_id=rule_id
        )

    def rule(self, rule_id: int) -> Rule:
        """The rule of an ID."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def _neutral_of(event: "ParsedEvent") -> NeutralEvent:
    """The decoded event behind a ParsedEvent (one built by hand is read as the project's JSON)."""
    if event.neutral is not None:
        return event.neutral
    return NeutralEvent(
        vendor="watch",
        format="utm-event-json",
        occurred_at=event.occurred_at,
        kind=event.kind,
        serial=event.serial_number,
        action=event.action.lower(),
        level=event.level.lower(),
        signature=event.signature,
        group=event.group,
        src_ip=event.src_ip,
        dst_ip=event.dst_ip,
        url=event.url,
        message=event.message,
        event_key=event.event_key,
    )


_DEFAULT: Classifier | None = None


def default_classifier() -> Classifier:
    """The classifier of the packaged rules file (loaded once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Classifier.load()
    return _DEFAULT


def _categories(raw: Any) -> dict[str, Category]:
    if not isinstance(raw, dict):
        raise RulesError("[categories] must be a table")
    unknown = set(raw) - set(THREAT_CATEGORIES) - set(NON_THREAT_CATEGORIES)
    if unknown:
        raise RulesError(f"unknown category codes {sorted(unknown)}; see shared.labels")
    missing = set(THREAT_CATEGORIES) - set(raw)
    if missing:
        raise RulesError(f"threat categories without texts: {sorted(missing)}")
    out: dict[str, Category] = {}
    for key in (*THREAT_CATEGORIES, *NON_THREAT_CATEGORIES):
        value = raw.get(key, {})
        try:
            texts = {f: str(value[f]) for f in ("summary", "explanation", "remedy")} if value else {}
        except KeyError as exc:
            raise RulesError(f"category {key!r} lacks {exc.args[0]}") from exc
        summary = texts.get("summary", "")
        out[key] = Category(
            key=key,
            name=category_name(key),
            summary=summary,
            summary_allowed=str(value.get("summary_allowed", summary)) if value else "",
            explanation=texts.get("explanation", ""),
            remedy=texts.get("remedy", ""),
        )
    return out


def _strings(value: Any, field: str, rule_id: object) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise RulesError(f"rule {rule_id}: {field} must be a string or a list of strings")
    return frozenset(i.lower() for i in items)


def _pattern(value: Any, field: str, rule_id: object) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RulesError(f"rule {rule_id}: {field} must be a regular expression string")
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise RulesError(f"rule {rule_id}: invalid {field} pattern {value!r}: {exc}") from exc


def _rule(raw: dict[str, Any], categories: Mapping[str, Category]) -> Rule:
    rule_id = raw.get("id")
    if type(rule_id) is not int or rule_id not in RULE_ID_RANGE:
        raise RulesError(f"rule ID {rule_id!r} must be a number from 100000 to 119999")
    category = raw.get("category")
    severity = raw.get("severity")
    if category not in categories:
        raise RulesError(f"rule {rule_id} names an unknown category {category!r}")
    if type(severity) is not int or severity not in (0, 1, 2, 3):
        raise RulesError(f"rule {rule_id} has severity {severity!r}; 0, 1, 2 or 3 expected")
    if category in NON_THREAT_CATEGORIES and severity != 0:
        raise RulesError(f"rule {rule_id}: {category!r} is not a threat; its severity must be 0")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RulesError(f"rule {rule_id} has unknown keys {sorted(unknown)}")
    fields_raw = raw.get("fields", {})
    if not isinstance(fields_raw, dict):
        raise RulesError(f"rule {rule_id}: fields must be a table")
    fields = tuple(
        (str(name), p)
        for name, value in fields_raw.items()
        if (p := _pattern(value, f"fields.{name}", rule_id)) is not None
    )
    return Rule(
        id=rule_id,
        description=str(raw.get("description", "")),
        category=str(category),
        severity=severity,
        vendor=_strings(raw.get("vendor"), "vendor", rule_id),
        kind=_strings(raw.get("kind"), "kind", rule_id),
        subtype=_strings(raw.get("subtype"), "subtype", rule_id),
        action=_strings(raw.get("action"), "action", rule_id),
        level=_strings(raw.get("level"), "level", rule_id),
        signature=_pattern(raw.get("signature"), "signature", rule_id),
        group=_pattern(raw.get("group"), "group", rule_id),
        match=_pattern(raw.get("match"), "match", rule_id),
        fields=fields,
    )
