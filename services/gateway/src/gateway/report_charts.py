"""Server-side SVG charts of the reports: plain bar charts, no JavaScript, no CDN.

Written out directly rather than through a chart library: a chart is a few hundred short elements
(bars, grid lines, labels, a legend), drawn in a millisecond, and light enough for WeasyPrint to
put two of them in a PDF quickly. Only presentation attributes are used (no ``style``), so the
images are the same under the portal's Content-Security-Policy. The figures of every chart are also
in a table next to it, and each ``<img>`` has a text alternative (``report_export.chart_alternatives``).
"""

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from shared.labels import SEVERITY_STARS, severity_label

FONT = "IPAexGothic, Noto Sans CJK JP, Hiragino Sans, Meiryo, sans-serif"
WIDTH, HEIGHT = 800, 320
TEXT, SUBTLE, GRID = "#333333", "#666666", "#e3e3e3"
SEVERITY_COLORS = {1: "#9bbbe0", 2: "#f0a830", 3: "#d9534f"}
COMPARISON_COLORS = ("#5b8cc8", "#f0a830", "#7a7a7a")
SEVERITY_ORDER = (1, 2, 3)
# Plot area inside the image: left margin for the value axis (or the bar labels), room for the
# title above and for the x labels and the legend below.
TOP, BOTTOM = 40, 72

Series = Sequence[tuple[str, str, Sequence[float | None]]]  # (name, colour, one value per label)


def _num(value: float) -> str:
    return f"{value:g}" if value < 1e6 else f"{value:,.0f}"


def _ticks(top: float) -> list[float]:
    """0 and up to five round steps (1, 2 or 5 × 10ⁿ) covering ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "middle", fill: str = TEXT,
          extra: str = "") -> str:  # fmt: skip
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{extra}>'
        f"{escape(text)}</text>"
    )


def _frame(title: str, body: list[str], series: Series) -> str:
    """The whole image: background, title, the chart's elements and the legend under it."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" font-family="{escape(FONT)}">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        _text(WIDTH / 2, 24, title, size=16),
        *body,
    ]
    x = WIDTH / 2 - sum(28 + 14 * len(name) for name, _, _ in series) / 2
    for name, colour, _ in series:
        parts.append(f'<rect x="{x:.1f}" y="{HEIGHT - 22}" width="12" height="12" fill="{colour}"/>')
        parts.append(_text(x + 16, HEIGHT - 12, name, anchor="start"))
        x += 28 + 14 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def _columns(title: str, labels: Sequence[str], series: Series, *, stacked: bool, label_step: int = 1) -> str:
    """Vertical bars per label: stacked, or side by side (a missing value draws no bar)."""
    left, right = 64, WIDTH - 16
    bottom = HEIGHT - BOTTOM
    totals = []
    for i in range(len(labels)):
        at = [values[i] or 0 for _, _, values in series]
        totals.append(sum(at) if stacked else max(at, default=0))
    ticks = _ticks(max(totals, default=0))
    scale = (bottom - TOP) / ticks[-1]
    body = []
    for tick in ticks:
        y = bottom - tick * scale
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, _num(tick), size=11, anchor="end", fill=SUBTLE))
    slot = (right - left) / max(1, len(labels))
    group = slot * 0.75
    bar = group if stacked else group / max(1, len(series))
    for i, label in enumerate(labels):
        x0 = left + slot * i + (slot - group) / 2
        base = 0.0
        for j, (_, colour, values) in enumerate(series):
            value = values[i]
            if not value:
                continue
            height = value * scale
            x = x0 if stacked else x0 + j * bar
            y = bottom - (base + value) * scale if stacked else bottom - height
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" fill="{colour}"/>'
            )
            if stacked:
                base += value
        if i % label_step == 0:
            body.append(_text(left + slot * (i + 0.5), bottom + 16, label, size=11, fill=SUBTLE))
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{SUBTLE}"/>')
    return _frame(title, body, series)


def _rows(title: str, labels: Sequence[str], series: Series) -> str:
    """Horizontal stacked bars, one row per label (first label on top)."""
    left, right = 180, WIDTH - 24
    bottom = HEIGHT - BOTTOM + 16
    totals = [sum(values[i] or 0 for _, _, values in series) for i in range(len(labels))]
    ticks = _ticks(max(totals, default=0))
    scale = (right - left) / ticks[-1]
    body = []
    for tick in ticks:
        x = left + tick * scale
        body.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}" stroke="{GRID}"/>')
        body.append(_text(x, bottom + 14, _num(tick), size=11, fill=SUBTLE))
    slot = (bottom - TOP) / max(1, len(labels))
    thick = min(28.0, slot * 0.7)
    for i, label in enumerate(labels):
        y = TOP + slot * i + (slot - thick) / 2
        body.append(_text(left - 8, y + thick / 2 + 4, label, anchor="end"))
        base = 0.0
        for _, colour, values in series:
            value = values[i] or 0
            if value:
                x = left + base * scale
                body.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{value * scale:.1f}" height="{thick:.1f}" '
                    f'fill="{colour}"/>'
                )
                base += value
    return _frame(title, body, series)


def _by_severity(rows: Sequence[Mapping[str, Any]]) -> Series:
    return [
        (severity_label(s), SEVERITY_COLORS[s], [r["by_severity"][str(s)] for r in rows])
        for s in SEVERITY_ORDER
    ]


def daily_chart(report: Mapping[str, Any]) -> str:
    """Threats per day, stacked by severity."""
    days = report["daily"]
    labels = [d["date"][5:].replace("-", "/") for d in days]
    step = max(1, math.ceil(len(days) / 15))
    return _columns("日別の検知件数", labels, _by_severity(days), stacked=True, label_step=step)


def category_chart(report: Mapping[str, Any]) -> str:
    """Threats per category, by severity."""
    rows = report["by_category"]
    return _rows("カテゴリ別の検知件数", [r["name"] for r in rows], _by_severity(rows))


def comparison_chart(comparison: Mapping[str, Any]) -> str:
    """Own rate against the mean and median of all participating companies, by severity."""
    rows = comparison["by_severity"]
    series = [
        (name, colour, [r.get(key) for r in rows])
        for (name, key), colour in zip(
            (("自社", "own"), ("参加企業の平均", "mean"), ("参加企業の中央値", "median")),
            COMPARISON_COLORS,
            strict=True,
        )
    ]
    labels = [SEVERITY_STARS[r["severity"]] for r in rows]
    return _columns("1台1日あたりの検知件数(重要度別)", labels, series, stacked=False)


def units_chart(comparison: Mapping[str, Any]) -> str:
    """Each unit's threats by severity."""
    units = comparison["units"]
    return _columns("UTM別の検知件数", [u["name"] for u in units], _by_severity(units), stacked=True)


CHARTS = {
    ("threats", "daily"): daily_chart,
    ("threats", "categories"): category_chart,
    ("average", "severity"): comparison_chart,
    ("units", "units"): units_chart,
}
