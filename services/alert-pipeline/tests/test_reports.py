"""Report arithmetic without servers: JST periods, aggregation of counter documents, k-anonymity."""

from datetime import UTC, date, datetime

import pytest

from alert_pipeline.reports import (
    MIN_COMPANIES,
    company_comparison,
    company_rates,
    merge_company_sums,
    peer_day_document,
    peer_figure,
    peer_rows_of,
    threat_report,
    unit_comparison,
)
from alert_pipeline.topn import add_top_counts, escape_key, unescape_key
from shared.periods import Period, PeriodError, month_period, preset_period, previous_month

NAMES = {"ips": "不正侵入防御(IPS)", "webfilter": "Webガード"}
UNITS = {"SER-A": {"unit_id": "U-A", "name": "本社"}, "SER-B": {"unit_id": "U-B", "name": "支店"}}


# --- periods (JST calendar) ---


def test_month_boundaries_are_jst_midnights() -> None:
    november = month_period(2026, 11)
    assert november.first == date(2026, 11, 1)
    assert november.last == date(2026, 11, 30)
    assert november.since == datetime(2026, 10, 31, 15, 0, tzinfo=UTC)
    assert november.until == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert november.days == 30


def test_december_rolls_into_next_year() -> None:
    december = month_period(2026, 12)
    assert december.last == date(2026, 12, 31)
    assert december.until == datetime(2026, 12, 31, 15, 0, tzinfo=UTC)


def test_this_month_on_the_first_in_japan_while_still_last_month_in_utc() -> None:
    # 2026-12-01 02:00 JST is 2026-11-30 17:00 UTC.
    now = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert preset_period("this_month", now) == Period(date(2026, 12, 1), date(2026, 12, 1))
    assert preset_period("last_month", now) == Period(date(2026, 11, 1), date(2026, 11, 30))


def test_last_month_of_march_in_a_leap_year() -> None:
    assert previous_month(date(2028, 3, 15)) == Period(date(2028, 2, 1), date(2028, 2, 29))
    assert previous_month(date(2027, 1, 10)) == Period(date(2026, 12, 1), date(2026, 12, 31))


def test_rolling_presets_and_range() -> None:
    now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    assert preset_period("last_7_days", now) == Period(date(2026, 11, 14), date(2026, 11, 20))
    assert preset_period("last_30_days", now).days == 30
    assert preset_period("range", now, "2026-10-05", "2026-10-06") == Period(
        date(2026, 10, 5), date(2026, 10, 6)
    )


def test_previous_period_has_the_same_length() -> None:
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    assert period.previous() == Period(date(2026, 10, 2), date(2026, 10, 31))


@pytest.mark.parametrize(
    ("preset", "first", "last"),
    [("range", "2026-11-05", "2026-11-01"), ("range", "2026/11/01", "2026-11-02"), ("weekly", "", ""),
     ("range", "2024-01-01", "2026-01-01")],
)  # fmt: skip
def test_bad_periods_are_refused_in_japanese(preset: str, first: str, last: str) -> None:
    with pytest.raises(PeriodError) as info:
        preset_period(preset, datetime(2026, 11, 20, tzinfo=UTC), first, last)
    assert "期間" in str(info.value) or "日付" in str(info.value)


# --- top-N keys ---


def test_top_keys_are_escaped_and_reversible() -> None:
    assert escape_key("evil.example.com/$x%") == "evil%2Eexample%2Ecom/%24x%25"
    assert unescape_key(escape_key("a.b$c%2E")) == "a.b$c%2E"


def test_top_counts_bounded_per_batch_with_an_others_bucket() -> None:
    fields: dict[str, int] = {}
    for i in range(60):
        add_top_counts(fields, {"signature": f"sig{i}", "source": "10.0.0.5", "action": "blocked",
                                "destination": "bad.example"})  # fmt: skip
    assert fields["top.src.10%2E0%2E0%2E5"] == 60
    assert fields["top.dst.bad%2Eexample"] == 60
    assert sum(1 for f in fields if f.startswith("top.sig.") and f != "top.sig.~others") == 50
    assert fields["top.sig.~others"] == 10


def test_allowed_traffic_is_not_a_blocked_destination() -> None:
    fields: dict[str, int] = {}
    add_top_counts(
        fields, {"signature": "x", "source": "", "action": "passthrough", "destination": "d.example"}
    )
    assert fields == {"top.sig.x": 1}


# --- aggregation ---


def _doc(serial: str, hour: datetime, **threats: dict[str, int]) -> dict[str, object]:
    return {"serial_number": serial, "hour": hour, "threats": threats, "benign": {"traffic": 10}}


def test_threat_report_totals_daily_series_units_and_change() -> None:
    period = Period(date(2026, 11, 1), date(2026, 11, 2))
    docs = [
        # 2026-11-01 08:00 JST
        _doc(
            "SER-A",
            datetime(2026, 10, 31, 23, tzinfo=UTC),
            ips={"count": 3, "severity_3": 1, "severity_2": 2},
        ),
        # 2026-11-02 00:30 JST falls on the second day though it is still Nov 1 in UTC
        _doc("SER-A", datetime(2026, 11, 1, 15, tzinfo=UTC), webfilter={"count": 4, "severity_1": 4}),
        _doc("SER-B", datetime(2026, 11, 1, 16, tzinfo=UTC)),
        # another company's serial slipped in: ignored
        _doc("SER-X", datetime(2026, 11, 1, 16, tzinfo=UTC), ips={"count": 99, "severity_3": 99}),
    ]
    docs[0]["top"] = {"sig": {"ET%2ETrojan": 3}, "src": {"192%2E168%2E1%2E20": 3}}
    previous = [_doc("SER-B", datetime(2026, 10, 30, 1, tzinfo=UTC), ips={"count": 5, "severity_2": 5})]
    report = threat_report(period, UNITS, docs, previous, NAMES)
    assert report["total"] == 7
    assert report["important"] == 3
    assert report["by_severity"] == {"1": 4, "2": 2, "3": 1}
    assert report["by_category"][0] == {
        "key": "webfilter", "name": "Webガード", "count": 4, "by_severity": {"1": 4, "2": 0, "3": 0}
    }  # fmt: skip
    assert [d["total"] for d in report["daily"]] == [3, 4]
    assert report["previous"]["total"] == 5
    assert report["change_percent"] == 40.0
    assert report["top_signatures"] == [{"name": "ET.Trojan", "count": 3}]
    assert report["top_sources"] == [{"name": "192.168.1.20", "count": 3}]
    units = {u["unit_id"]: u for u in report["units"]}
    assert units["U-A"]["monitored_hours"] == 2
    assert units["U-A"]["online_percent"] == round(2 * 100 / 48, 1)
    assert units["U-B"]["total"] == 0
    assert "SER-X" not in {u["serial_number"] for u in report["units"]}

    compared = unit_comparison(report, NAMES)
    highlighted = [u["unit_id"] for u in compared["units"] if u["highlight"]]
    assert highlighted == ["U-A"]
    assert next(u for u in compared["units"] if u["unit_id"] == "U-A")["per_day"] == 84.0


# --- k-anonymity ---


def _rows(n: int) -> list[dict[str, object]]:
    # company C-i: 48 unit-hours (2 unit-days) and 2*i ips threats of severity 2 → rate i per unit-day
    return [
        {"company_id": f"C-{i}", "hours": 48, "categories": {"ips": 2 * i}, "severities": {2: 2 * i}}
        for i in range(1, n + 1)
    ]


def test_four_companies_publish_nothing_comparative() -> None:
    result = company_comparison(
        "C-1", Period(date(2026, 11, 1), date(2026, 11, 1)), company_rates(_rows(4)), NAMES
    )
    assert result["published"] is False
    assert result["by_category"] == []
    for figure in [result["total"], *result["by_severity"]]:
        assert figure["published"] is False
        assert not {"mean", "median", "percentile", "companies"} & set(figure)
    assert result["total"]["own"] == 1.0


def test_five_companies_publish_mean_median_percentile_only() -> None:
    result = company_comparison(
        "C-5", Period(date(2026, 11, 1), date(2026, 11, 1)), company_rates(_rows(5)), NAMES
    )
    assert result["published"] is True
    total = result["total"]
    assert total == {
        "own": 5.0,
        "published": True,
        "companies": 5,
        "mean": 3.0,
        "median": 3.0,
        "percentile": 90,
    }
    ips = result["by_category"][0]
    assert ips["name"] == "不正侵入防御(IPS)"
    assert set(ips) == {"key", "name", "own", "published", "companies", "mean", "median", "percentile"}
    assert "C-1" not in repr(result)


def test_companies_without_monitored_time_do_not_count() -> None:
    rows = [*_rows(4), {"company_id": "C-idle", "hours": 0, "categories": {}, "severities": {}}]
    assert len(company_rates(rows)) == 4
    assert peer_figure(1.0, [1.0] * (MIN_COMPANIES - 1))["published"] is False


def test_peer_day_documents_keep_the_sums_and_days_add_up() -> None:
    day1 = [
        {"company_id": "C-1", "hours": 24, "categories": {"ips": 3}, "severities": {2: 1, 3: 2}},
        {"company_id": "C-2", "hours": 48, "categories": {"webfilter": 5}, "severities": {1: 5}},
    ]
    doc = peer_day_document(date(2026, 11, 1), day1)
    assert doc["_id"] == "2026-11-01"
    # MongoDB field names are strings: the severities come back as numbers.
    assert doc["companies"][0]["severities"] == {"2": 1, "3": 2}
    assert peer_rows_of(doc) == day1
    day2 = [
        {"company_id": "C-1", "hours": 10, "categories": {"ips": 1, "webfilter": 4}, "severities": {1: 5}}
    ]
    merged = {r["company_id"]: r for r in merge_company_sums([peer_rows_of(doc), day2])}
    assert merged["C-1"] == {
        "company_id": "C-1",
        "hours": 34,
        "categories": {"ips": 4, "webfilter": 4},
        "severities": {1: 5, 2: 1, 3: 2},
    }
    assert merged["C-2"] == day1[1]
