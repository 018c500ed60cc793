"""The alert tallies' pure parts: category names as field names, and which part of a period they serve;
and how the rest of a period, read from the alerts, is matched."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from alert_pipeline.repository import matches_rest
from alert_pipeline.tallies import AlertTallies, jst_midnight, tallied_window
from alert_pipeline.topn import field_name, unescape_key
from shared.labels import JST


@pytest.mark.parametrize(
    "name", ["Webガード", "不正侵入防御(IPS)", "v1.2 rules", "$where", "100%", "a%2Eb", "%24x", "..", "$.$"]
)
def test_a_category_name_survives_as_a_field_name(name: str) -> None:
    field = field_name(name)
    assert "." not in field
    assert not field.startswith("$")
    assert unescape_key(field) == name


class _NoState:
    async def find_one(self, query: Any) -> None:
        return None


def _tallies_since(day: date | None) -> AlertTallies:
    store = AlertTallies({"alert_tallies": None, "tally_state": _NoState()})  # type: ignore[arg-type]
    store._since = None if day is None else jst_midnight(day)
    return store


NOW = datetime(2026, 12, 1, 15, 40, tzinfo=JST)


async def _whole_days(day: date | None, since: datetime, until: datetime, now: datetime = NOW) -> Any:
    return await _tallies_since(day).whole_days(since, until, now)


async def test_only_whole_jst_days_from_the_first_tallied_day_are_read_from_tallies() -> None:
    midnight = datetime(2026, 11, 10, tzinfo=JST)  # 2026-11-09 15:00 UTC
    nov_1 = date(2026, 11, 1)
    # Edges at JST midnights are whole days; anything else is cut to the whole days inside.
    assert await _whole_days(nov_1, midnight, datetime(2026, 11, 12, tzinfo=JST)) == (
        midnight,
        datetime(2026, 11, 12, tzinfo=JST),
    )
    assert await _whole_days(
        nov_1, datetime(2026, 11, 10, 0, 1, tzinfo=JST), datetime(2026, 11, 12, 23, tzinfo=JST)
    ) == (
        datetime(2026, 11, 11, tzinfo=JST),
        datetime(2026, 11, 12, tzinfo=JST),
    )
    # A UTC midnight is no JST midnight.
    assert (
        await _whole_days(nov_1, datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
        is None
    )
    # Days before the first tallied one are not; a database without tallies has none.
    assert await _whole_days(date(2026, 11, 11), midnight, datetime(2026, 11, 13, tzinfo=JST)) == (
        datetime(2026, 11, 11, tzinfo=JST),
        datetime(2026, 11, 13, tzinfo=JST),
    )
    assert await _whole_days(date(2026, 11, 20), midnight, datetime(2026, 11, 13, tzinfo=JST)) is None
    assert await _whole_days(None, midnight, datetime(2026, 11, 13, tzinfo=JST)) is None


async def test_the_day_still_running_is_never_read_from_tallies() -> None:
    first = date(2026, 11, 1)
    week = datetime(2026, 11, 24, tzinfo=JST)
    tomorrow = datetime(2026, 12, 2, tzinfo=JST)
    assert await _whole_days(first, week, tomorrow) == (week, datetime(2026, 12, 1, tzinfo=JST))
    assert await _whole_days(first, week, NOW) == (week, datetime(2026, 12, 1, tzinfo=JST))
    # A second after midnight, the day just over is read from tallies.
    midnight = datetime(2026, 12, 2, tzinfo=JST)
    assert await _whole_days(first, week, tomorrow, midnight + timedelta(seconds=1)) == (week, midnight)
    assert await _whole_days(first, datetime(2026, 12, 1, tzinfo=JST), tomorrow) is None


def test_the_rest_of_a_query_is_matched_as_the_server_matches_it() -> None:
    query = {"company_id": "C-1", "detected_at": {"$gte": 0, "$lt": 1}, "severity": {"$in": [2, 3]}}
    assert matches_rest({"severity": 3}, query)
    assert not matches_rest({"severity": 1}, query)
    assert not matches_rest({}, query)
    # The company and period are the index's part, already matched by the server.
    assert matches_rest({"severity": 2, "company_id": "C-2"}, query)
    # None stands for a missing field too (an alert never triaged is 未対応).
    assert matches_rest({}, {"status": {"$in": ["open", None]}})
    assert matches_rest({"status": None}, {"status": None})
    assert not matches_rest({"status": "resolved"}, {"status": {"$in": ["open", None]}})
    assert matches_rest({"unit_id": "U-1", "category": "IPS"}, {"unit_id": "U-1", "category": "IPS"})
    assert not matches_rest({"unit_id": "U-1", "category": "IPS"}, {"unit_id": "U-1", "category": "Web"})
    assert not matches_rest({"unit_id": "U-1"}, {"unit_id": {"$in": []}})
    with pytest.raises(ValueError, match="unsupported condition on severity"):
        matches_rest({"severity": 3}, {"severity": {"$gte": 2}})


def test_a_window_through_tallied_days_holds_the_alerts_still_wanted_and_skips_empty_days() -> None:
    first = jst_midnight(date(2026, 11, 1))
    body = (first, first + timedelta(days=10))

    def day(n: int) -> datetime:  # the n-th tallied day's midnight
        return first + timedelta(days=n)

    per_day = {day(9): 0, day(8): 2, day(7): 0, day(6): 3, day(2): 5}
    # From the end: day 9 is empty (left out), day 8 holds 2, day 6 brings 5 ≥ 4.
    assert tallied_window(per_day, body, day(10), 4) == (day(6), day(9))
    assert tallied_window(per_day, body, day(10), 2) == (day(8), day(9))
    # Not enough in the tallied days: down to their start.
    assert tallied_window(per_day, body, day(6), 50) == (day(0), day(3))
    # No alert left in them: an empty window at their start, from where older windows go on.
    assert tallied_window(per_day, body, day(2), 1) == (day(0), day(0))
    # An end that is not a tallied day's end is not sized by tallies.
    assert tallied_window(per_day, body, day(0), 1) is None
    assert tallied_window(per_day, body, day(11), 1) is None
    assert tallied_window(per_day, body, day(5) + timedelta(hours=3), 1) is None
