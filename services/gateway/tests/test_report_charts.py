"""The reports' SVG charts without servers: well-formed, escaped, no style or script, bars to scale."""

import xml.etree.ElementTree as ET

import pytest

from gateway.report_charts import _ticks, comparison_chart, daily_chart, units_chart

SVG = "{http://www.w3.org/2000/svg}"


def _bars(svg: str) -> list[dict[str, str]]:
    """The bars: rects other than the background and the legend's swatches (12×12)."""
    root = ET.fromstring(svg)
    rects = [r.attrib for r in root.iter(f"{SVG}rect")]
    return [r for r in rects[1:] if not (r.get("width") == "12" and r.get("height") == "12")]


def test_value_axis_steps_are_round() -> None:
    assert _ticks(2228) == [0, 500, 1000, 1500, 2000, 2500]
    assert _ticks(7) == [0, 2, 4, 6, 8]
    assert _ticks(10) == [0, 2, 4, 6, 8, 10]
    assert _ticks(0) == [0.0, 1.0]


def test_daily_bars_are_stacked_to_scale() -> None:
    report = {
        "daily": [
            {"date": "2026-11-01", "by_severity": {"1": 6, "2": 2, "3": 2}},
            {"date": "2026-11-02", "by_severity": {"1": 0, "2": 0, "3": 0}},
            {"date": "2026-11-03", "by_severity": {"1": 5, "2": 0, "3": 0}},
        ]
    }
    svg = daily_chart(report)
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == "日別の検知件数"  # type: ignore[union-attr]
    bars = _bars(svg)
    # Day 1: three parts (6, 2, 2), day 2: none, day 3: one (5); the axis goes to 10.
    heights = [float(b["height"]) for b in bars]
    assert len(heights) == 4
    assert heights[0] == pytest.approx(3 * heights[1], abs=0.2)
    assert heights[1] == heights[2]
    assert heights[3] == pytest.approx(heights[0] * 5 / 6, abs=0.2)
    assert {b["fill"] for b in bars[:3]} == {"#9bbbe0", "#f0a830", "#d9534f"}
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"11/01", "11/03", "10"} <= set(texts)


def test_names_are_escaped_and_nothing_runs_or_is_styled() -> None:
    comparison = {"units": [{"name": '<b onclick="x">支店&</b>', "by_severity": {"1": 1, "2": 0, "3": 0}}]}
    svg = units_chart(comparison)
    assert '<b onclick="x">' not in svg
    assert "&lt;b onclick=&quot;x&quot;&gt;支店&amp;&lt;/b&gt;" in svg
    assert "<script" not in svg
    assert " style=" not in svg
    assert ET.fromstring(svg) is not None


def test_unpublished_peer_figures_draw_no_bar() -> None:
    rows = [
        {"severity": s, "own": own, "mean": None, "median": None} for s, own in ((1, 4.0), (2, 1.5), (3, 0.0))
    ]
    bars = _bars(comparison_chart({"by_severity": rows}))
    # Only the company's own rates (a zero draws nothing either).
    assert [b["fill"] for b in bars] == ["#5b8cc8", "#5b8cc8"]
