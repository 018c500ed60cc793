"""Server-side SVG charts of the reports (pygal, no JavaScript, no CDN)."""

from collections.abc import Mapping
from typing import Any

import pygal
from pygal.style import Style

from shared.labels import SEVERITY_STARS, severity_label

FONT = "IPAexGothic, 'Noto Sans CJK JP', 'Hiragino Sans', Meiryo, sans-serif"
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#333333",
    foreground_strong="#222222",
    foreground_subtle="#888888",
    font_family=FONT,
    label_font_family=FONT,
    major_label_font_family=FONT,
    title_font_family=FONT,
    legend_font_family=FONT,
    value_font_family=FONT,
    tooltip_font_family=FONT,
    colors=("#9bbbe0", "#f0a830", "#d9534f", "#5b8cc8", "#7a7a7a"),
)
SEVERITY_ORDER = (1, 2, 3)
COMMON: dict[str, Any] = {
    "style": STYLE,
    "js": [],
    "width": 800,
    "height": 320,
    "legend_at_bottom": True,
    "print_values": False,
    "disable_xml_declaration": True,
    "explicit_size": True,
}


def _svg(chart: Any) -> str:
    svg: str = chart.render(is_unicode=True)
    return svg


def daily_chart(report: Mapping[str, Any]) -> str:
    """Threats per day, stacked by severity."""
    chart = pygal.StackedBar(**COMMON, title="日別の検知件数", x_label_rotation=45)
    days = report["daily"]
    step = max(1, len(days) // 15)
    chart.x_labels = [d["date"][5:].replace("-", "/") for d in days]
    chart.x_labels_major = chart.x_labels[::step]
    chart.show_minor_x_labels = False
    for s in SEVERITY_ORDER:
        chart.add(severity_label(s), [d["by_severity"][str(s)] for d in days])
    return _svg(chart)


def category_chart(report: Mapping[str, Any]) -> str:
    """Threats per category, by severity."""
    chart = pygal.HorizontalStackedBar(**COMMON, title="カテゴリ別の検知件数")
    rows = list(reversed(report["by_category"]))
    chart.x_labels = [r["name"] for r in rows]
    for s in SEVERITY_ORDER:
        chart.add(severity_label(s), [r["by_severity"][str(s)] for r in rows])
    return _svg(chart)


def comparison_chart(comparison: Mapping[str, Any]) -> str:
    """Own rate against the mean and median of all participating companies, by severity."""
    chart = pygal.Bar(**COMMON, title="1台1日あたりの検知件数(重要度別)")
    rows = comparison["by_severity"]
    chart.x_labels = [SEVERITY_STARS[r["severity"]] for r in rows]
    chart.add("自社", [r["own"] for r in rows])
    chart.add("参加企業の平均", [r.get("mean") for r in rows])
    chart.add("参加企業の中央値", [r.get("median") for r in rows])
    return _svg(chart)


def units_chart(comparison: Mapping[str, Any]) -> str:
    """Each unit's threats by severity."""
    chart = pygal.StackedBar(**COMMON, title="UTM別の検知件数")
    units = comparison["units"]
    chart.x_labels = [u["name"] for u in units]
    for s in SEVERITY_ORDER:
        chart.add(severity_label(s), [u["by_severity"][str(s)] for u in units])
    return _svg(chart)


CHARTS = {
    ("threats", "daily"): daily_chart,
    ("threats", "categories"): category_chart,
    ("average", "severity"): comparison_chart,
    ("units", "units"): units_chart,
}
