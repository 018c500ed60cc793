"""Report periods: Japan calendar days, turned into UTC instants (the counters are kept per UTC hour).

A period is a run of whole JST days, ``first`` to ``last`` inclusive; it starts at JST midnight of
``first`` and ends (exclusive) at JST midnight after ``last``. JST has no daylight saving time, so
every day is 24 hours and every JST midnight is a whole UTC hour (15:00 UTC the day before).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from shared.labels import JST

MAX_DAYS: Final = 366
PRESETS: Final = {
    "this_month": "今月",
    "last_month": "先月",
    "last_7_days": "過去7日間",
    "last_30_days": "過去30日間",
    "range": "期間を指定",
}


class PeriodError(ValueError):
    """A period that cannot be reported on; the message is for the user (Japanese)."""


@dataclass(frozen=True, slots=True)
class Period:
    """Whole JST days from ``first`` to ``last`` (inclusive)."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise PeriodError("期間の開始が終了より後になっています。")
        if self.days > MAX_DAYS:
            raise PeriodError(f"期間は{MAX_DAYS}日以内で指定してください。")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def since(self) -> datetime:
        """The first instant, in UTC."""
        return datetime.combine(self.first, time.min, tzinfo=JST).astimezone(UTC)

    @property
    def until(self) -> datetime:
        """The instant after the period (exclusive), in UTC."""
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=JST).astimezone(UTC)

    @property
    def hours(self) -> int:
        return self.days * 24

    def previous(self) -> "Period":
        """The period of the same length just before this one."""
        return Period(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]

    def label(self) -> str:
        """2026/11/01〜2026/11/30 (JST dates)."""
        return f"{self.first:%Y/%m/%d}〜{self.last:%Y/%m/%d}"


def jst_today(now: datetime) -> date:
    """Today's date in Japan."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(JST).date()


def month_period(year: int, month: int) -> Period:
    """A whole calendar month (JST)."""
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return Period(first, following - timedelta(days=1))


def previous_month(today: date) -> Period:
    """The calendar month before the one ``today`` is in."""
    last = today.replace(day=1) - timedelta(days=1)
    return month_period(last.year, last.month)


def preset_period(preset: str, now: datetime, first: str = "", last: str = "") -> Period:
    """The period a picker choice means at ``now``; ``range`` uses ``first`` and ``last`` (YYYY-MM-DD)."""
    today = jst_today(now)
    if preset == "this_month":
        return Period(today.replace(day=1), today)
    if preset == "last_month":
        return previous_month(today)
    if preset == "last_7_days":
        return Period(today - timedelta(days=6), today)
    if preset == "last_30_days":
        return Period(today - timedelta(days=29), today)
    if preset == "range":
        return Period(parse_day(first), parse_day(last))
    raise PeriodError("期間の指定が正しくありません。")


def parse_day(value: str) -> date:
    """A YYYY-MM-DD date, or a PeriodError in Japanese."""
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise PeriodError("日付はYYYY-MM-DDの形式で指定してください。") from None


def jst_day_of(moment: datetime) -> date:
    """The JST date an instant falls on."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(JST).date()
