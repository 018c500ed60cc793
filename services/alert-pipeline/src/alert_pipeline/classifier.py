"""Classification of threats into a category and a severity by the rules of ``rules.toml``."""

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from alert_pipeline.parsing import ParsedEvent
from shared.labels import SEVERITY_STARS, severity_label

SEVERITY_LABELS: Mapping[int, str] = {s: severity_label(s) for s in SEVERITY_STARS}
BLOCKING_ACTIONS = frozenset(
    {"blocked", "block", "deny", "dropped", "drop", "reset", "clear_session", "redirect"}
)


@dataclass(frozen=True, slots=True)
class Category:
    """A threat category and the Japanese texts of its alerts."""

    key: str
    name: str
    summary: str
    summary_allowed: str
    explanation: str
    remedy: str


@dataclass(frozen=True, slots=True)
class Rule:
    """One line of the rules file: conditions and the outcome."""

    category: str
    severity: int
    kinds: frozenset[str] | None = None
    actions: frozenset[str] | None = None
    levels: frozenset[str] | None = None
    signature: re.Pattern[str] | None = None
    group: re.Pattern[str] | None = None

    def matches(self, event: ParsedEvent) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        if self.actions is not None and event.action.lower() not in self.actions:
            return False
        if self.levels is not None and event.level.lower() not in self.levels:
            return False
        if self.signature is not None and not self.signature.search(event.signature):
            return False
        return self.group is None or bool(self.group.search(event.group))


@dataclass(frozen=True, slots=True)
class Classification:
    """The outcome for one threat."""

    category: Category
    severity: int
    blocked: bool

    @property
    def summary(self) -> str:
        return self.category.summary if self.blocked else self.category.summary_allowed


class RulesError(ValueError):
    """The rules file is inconsistent."""


class Classifier:
    """Applies the first matching rule to a threat."""

    def __init__(self, categories: Mapping[str, Category], rules: list[Rule]) -> None:
        self.categories = dict(categories)
        self.rules = rules

    @classmethod
    def from_toml(cls, text: str) -> "Classifier":
        """Build a classifier from the text of a rules file."""
        data = tomllib.loads(text)
        categories = {
            key: Category(
                key=key,
                name=str(value["name"]),
                summary=str(value["summary"]),
                summary_allowed=str(value.get("summary_allowed", value["summary"])),
                explanation=str(value["explanation"]),
                remedy=str(value["remedy"]),
            )
            for key, value in data.get("categories", {}).items()
        }
        rules = [_rule(raw, categories) for raw in data.get("rules", [])]
        if not rules or any(r != _catch_all(r) for r in rules[-1:]):
            raise RulesError("the last rule must have no conditions so that every threat is classified")
        return cls(categories, rules)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Classifier":
        """Load ``path``, or the rules file shipped with the package."""
        if path:
            return cls.from_toml(Path(path).read_text(encoding="utf-8"))
        return cls.from_toml(resources.files("alert_pipeline").joinpath("rules.toml").read_text("utf-8"))

    def classify(self, event: ParsedEvent) -> Classification:
        """Category and severity of a threat."""
        for rule in self.rules:
            if rule.matches(event):
                return Classification(
                    category=self.categories[rule.category],
                    severity=rule.severity,
                    blocked=event.action.lower() in BLOCKING_ACTIONS,
                )
        raise AssertionError("the catch-all rule always matches")

    def category_names(self) -> list[str]:
        """Names of every category, in file order."""
        return [c.name for c in self.categories.values()]


def _catch_all(rule: Rule) -> Rule:
    return Rule(category=rule.category, severity=rule.severity)


def _strings(value: Any, field: str) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise RulesError(f"{field} must be a string or a list of strings")
    return frozenset(i.lower() for i in items)


def _pattern(value: Any, field: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    try:
        return re.compile(str(value), re.IGNORECASE)
    except re.error as exc:
        raise RulesError(f"invalid {field} pattern {value!r}: {exc}") from exc


def _rule(raw: dict[str, Any], categories: Mapping[str, Category]) -> Rule:
    category = raw.get("category")
    severity = raw.get("severity")
    if category not in categories:
        raise RulesError(f"rule names an unknown category {category!r}")
    if severity not in (1, 2, 3):
        raise RulesError(f"rule for {category!r} has severity {severity!r}; 1, 2 or 3 expected")
    unknown = set(raw) - {"category", "severity", "kind", "action", "level", "signature", "group"}
    if unknown:
        raise RulesError(f"rule for {category!r} has unknown keys {sorted(unknown)}")
    return Rule(
        category=str(category),
        severity=int(severity),
        kinds=_strings(raw.get("kind"), "kind"),
        actions=_strings(raw.get("action"), "action"),
        levels=_strings(raw.get("level"), "level"),
        signature=_pattern(raw.get("signature"), "signature"),
        group=_pattern(raw.get("group"), "group"),
    )
