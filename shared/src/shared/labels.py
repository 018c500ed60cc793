"""Words shown to customers for codes that cross services: categories, severities, UTM actions, JST times.

The pipeline, the notifier and the gateway all show these; they are declared here once.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

JST: Final = timezone(timedelta(hours=9), "JST")

# Threat categories: a code (stored, in events and URLs) and its Japanese name.
THREAT_CATEGORIES: Final[Mapping[str, str]] = {
    "webfilter": "Webガード",
    "antivirus": "アンチウイルス",
    "ips": "不正侵入防御(IPS)",
    "anomaly": "異常通信検知",
    "app-control": "アプリケーション制御",
    "botnet": "C&C/ボット通信",
    "dns-filter": "DNSフィルタ",
    "dlp": "情報漏えい防止(DLP)",
    "email-filter": "メールフィルタ",
    "sandbox": "サンドボックス",
    "ssl": "SSL/TLS検査",
    "waf": "Webアプリケーション防御(WAF)",
    "other": "その他の脅威",
}
# Codes a decoded event can have that are never threats by themselves.
NON_THREAT_CATEGORIES: Final[Mapping[str, str]] = {
    "traffic": "通信",
    "system": "システム",
}
# The service's own alerts (not from a UTM's log): a unit that stopped reporting.
MONITORING_CATEGORY: Final = "monitoring"
SERVICE_CATEGORIES: Final[Mapping[str, str]] = {MONITORING_CATEGORY: "UTM監視"}

CATEGORY_NAMES: Final[Mapping[str, str]] = {
    **THREAT_CATEGORIES,
    **NON_THREAT_CATEGORIES,
    **SERVICE_CATEGORIES,
}

SEVERITY_STARS: Final[Mapping[int, str]] = {1: "★☆☆", 2: "★★☆", 3: "★★★"}
SEVERITY_WORDS: Final[Mapping[int, str]] = {1: "低", 2: "中", 3: "高"}
# ★★☆ and above are mailed and counted as 問題.
IMPORTANT_SEVERITY: Final = 2

# Where the customer stands with an alert (triage); an alert without a status is open.
TRIAGE_OPEN: Final = "open"
TRIAGE_STATUSES: Final[Mapping[str, str]] = {
    TRIAGE_OPEN: "未対応",
    "acknowledged": "確認済み",
    "resolved": "対応済み",
}

# What the UTM did with the traffic, in the words of the portal.
ACTION_WORDS: Final[Mapping[str, str]] = {
    "blocked": "ブロック",
    "block": "ブロック",
    "deny": "ブロック",
    "denied": "ブロック",
    "drop": "ブロック",
    "dropped": "ブロック",
    "reset": "ブロック",
    "reset-both": "ブロック",
    "reset-client": "ブロック",
    "reset-server": "ブロック",
    "quarantined": "隔離",
    "quarantine": "隔離",
    "passthrough": "許可(検知のみ)",
    "pass": "許可(検知のみ)",
    "allow": "許可(検知のみ)",
    "allowed": "許可(検知のみ)",
    "accept": "許可(検知のみ)",
    "alert": "許可(検知のみ)",
    "detected": "検知",
    "monitored": "監視",
    "monitor": "監視",
    "log-only": "監視",
}


def category_name(code: str) -> str:
    """The Japanese name of a category code; an unknown code is shown as その他."""
    return CATEGORY_NAMES.get(code, THREAT_CATEGORIES["other"])


def severity_label(severity: int) -> str:
    """★★☆(中) and friends; 0 (no alert) is ー."""
    if severity not in SEVERITY_STARS:
        return "ー"
    return f"{SEVERITY_STARS[severity]}({SEVERITY_WORDS[severity]})"


def action_label(action: str) -> str:
    """The portal's word for a UTM action (ブロック / 許可(検知のみ) / 監視 …); unknown ones: その他."""
    if not action:
        return "ー"
    return ACTION_WORDS.get(action.strip().lower(), "その他")


def to_jst(moment: datetime) -> datetime:
    """The same instant in Japan time; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(JST)


def format_jst(moment: datetime | str | None) -> str:
    """One format for every time shown to people: `YYYY/MM/DD HH:MM` in JST ("" when unknown)."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return to_jst(moment).strftime("%Y/%m/%d %H:%M")


def format_jst_date(moment: datetime | str) -> str:
    """`YYYY/MM/DD` in JST."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return to_jst(moment).strftime("%Y/%m/%d")
