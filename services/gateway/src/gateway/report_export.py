"""Report exports: CSV (UTF-8 with BOM, so Excel opens it) and PDF (WeasyPrint, A4, Japanese fonts)."""

import base64
import csv
import io
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from weasyprint import CSS, HTML

from gateway.report_charts import CHARTS
from gateway.web import STATIC_DIR, templates
from shared.labels import JST, format_jst, severity_label

PDF_CSS = STATIC_DIR / "report_pdf.css"


def _pct(value: float | None) -> str:
    if value is None:
        return "ー"
    return f"{'↑' if value > 0 else '↓' if value < 0 else '±'}{abs(value):.1f}%"


def _num(value: float | None) -> str:
    return "ー" if value is None else f"{value:g}"


def chart_alternatives(kind: str, report: Mapping[str, Any]) -> dict[str, str]:
    """Text alternatives of the charts (the same figures are in the tables next to them)."""
    if kind == "threats":
        busiest = max(report["daily"], key=lambda d: d["total"], default=None)
        daily = f"日別の検知件数のグラフ。期間合計{report['total']}件"
        if busiest and busiest["total"]:
            daily += f"、最も多い日は{busiest['date']}の{busiest['total']}件"
        categories = "、".join(f"{r['name']} {r['count']}件" for r in report["by_category"]) or "検知なし"
        return {"daily": daily + "。", "categories": f"カテゴリ別の検知件数のグラフ。{categories}。"}
    if kind == "average":
        parts = []
        for r in report["by_severity"]:
            text = f"{r['label']} 自社{_num(r['own'])}件"
            if r["published"]:
                text += f"・平均{_num(r['mean'])}件・中央値{_num(r['median'])}件"
            parts.append(text)
        return {"severity": "1台1日あたりの検知件数のグラフ。" + "、".join(parts) + "。"}
    units = "、".join(f"{u['name']} {u['total']}件(★★☆以上 {u['important']}件)" for u in report["units"])
    return {"units": f"UTM別の検知件数のグラフ。{units or 'UTMなし'}。"}


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def report_pdf(kind: str, title: str, company_name: str, report: Mapping[str, Any]) -> bytes:
    """The report as an A4 PDF: company name, period and page numbers on every page, with the charts."""
    charts = {name: _data_uri(draw(report)) for (k, name), draw in CHARTS.items() if k == kind}

    def chart_src(name: str) -> str:
        return charts[name]

    html = templates.get_template("reports/pdf.html").render(
        title=title, kind=kind, company_name=company_name, report=report, chart_src=chart_src,
        alts=chart_alternatives(kind, report), created=format_jst(datetime.now(JST)), pdf=True,
    )  # fmt: skip
    pdf: bytes = HTML(string=html, base_url=str(STATIC_DIR)).write_pdf(
        stylesheets=[CSS(filename=str(PDF_CSS))]
    )
    return pdf


def report_csv(kind: str, title: str, company_name: str, report: Mapping[str, Any]) -> bytes:
    """The report's tables, one block after the other, as CSV encoded UTF-8 with a BOM."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([title])
    w.writerow(["会社名", company_name])
    w.writerow(["期間", report["period"]["label"]])
    WRITERS[kind](w.writerow, report)
    return out.getvalue().encode("utf-8-sig")


Row = Callable[[list[Any]], Any]


def _threats(row: Row, r: Mapping[str, Any]) -> None:
    row([])
    row(["合計", "件数", "前期間", "増減"])
    row(["すべての脅威", r["total"], r["previous"]["total"], _pct(r["change_percent"])])
    row(["★★☆(中)以上", r["important"], r["previous"]["important"], _pct(r["important_change_percent"])])
    row([])
    row(["重要度", "件数"])
    for s in ("3", "2", "1"):
        row([severity_label(int(s)), r["by_severity"][s]])
    row([])
    row(["カテゴリ", "件数", "★★★(高)", "★★☆(中)", "★☆☆(低)"])
    for c in r["by_category"]:
        row([c["name"], c["count"], c["by_severity"]["3"], c["by_severity"]["2"], c["by_severity"]["1"]])
    row([])
    row(["日付", "件数", "★★★(高)", "★★☆(中)", "★☆☆(低)"])
    for d in r["daily"]:
        s = d["by_severity"]
        row([d["date"].replace("-", "/"), d["total"], s["3"], s["2"], s["1"]])
    for label, key in (("脅威(シグネチャ)", "top_signatures"), ("社内の機器(送信元)", "top_sources"),
                       ("ブロックした宛先", "top_destinations")):  # fmt: skip
        row([])
        row([f"件数の多い{label}", "件数"])
        for e in [*r[key], *r[f"{key}_others"]]:
            row([e["name"], e["count"]])
    row([])
    row(["UTM", "件数", "★★☆(中)以上", "監視時間(時間)", "監視できていた割合(%)"])
    for u in r["units"]:
        row([u["name"], u["total"], u["important"], u["monitored_hours"], u["online_percent"]])


def _average(row: Row, r: Mapping[str, Any]) -> None:
    row([])
    row(
        [
            "1台1日あたりの検知件数",
            "自社",
            "参加企業の平均",
            "参加企業の中央値",
            "パーセンタイル",
            "参加企業数",
        ]
    )
    figures = [("すべての脅威", r["total"])]
    figures += [(f["label"], f) for f in r["by_severity"]]
    figures += [(f["name"], f) for f in r["by_category"]]
    for label, f in figures:
        if f["published"]:
            row([label, _num(f["own"]), f["mean"], f["median"], f.get("percentile", "ー"), f["companies"]])
        else:
            row([label, _num(f["own"]), "ー", "ー", "ー", f"{r['min_companies']}社未満"])


def _units(row: Row, r: Mapping[str, Any]) -> None:
    row([])
    header = [
        "UTM",
        "件数",
        "★★★(高)",
        "★★☆(中)",
        "★☆☆(低)",
        "1日あたり",
        "★★☆以上/日",
        "監視割合(%)",
        "最多",
    ]
    row(header + [c["name"] for c in r["categories"]])
    for u in r["units"]:
        s = u["by_severity"]
        row([u["name"], u["total"], s["3"], s["2"], s["1"], _num(u["per_day"]), _num(u["important_per_day"]),
             u["online_percent"], "○" if u["highlight"] else ""]
            + [u["by_category"].get(c["key"], 0) for c in r["categories"]])  # fmt: skip


WRITERS: dict[str, Callable[[Row, Mapping[str, Any]], None]] = {
    "threats": _threats,
    "average": _average,
    "units": _units,
}
