"""Repeats of one alert within the window: one mail at once, then one follow-up with the count."""

from datetime import UTC, datetime, timedelta

from notifier_factories import alert

from notifier.grouping import AlertGrouper, InMemoryAlertGroupStore, group_key

WINDOW = timedelta(minutes=10)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def grouper() -> tuple[AlertGrouper, Clock]:
    clock = Clock()
    return AlertGrouper(InMemoryAlertGroupStore(), window=WINDOW, clock=clock), clock


async def test_first_is_mailed_repeats_are_counted_and_reported_once_when_the_window_closes() -> None:
    rules, clock = grouper()
    first = await rules.observe(alert())
    assert first.first
    for _ in range(4):
        clock.advance(minutes=1)
        assert not (await rules.observe(alert())).first
    assert await rules.due() == []  # window still open: nothing to send yet

    clock.advance(minutes=6, seconds=1)  # 10 min 1 s after the first
    [group] = await rules.due()
    assert group.group_id == first.group_id
    assert group.repeat_count == 4
    await rules.close_many([group.group_id])
    assert await rules.due() == []


async def test_after_the_window_the_same_alert_is_mailed_at_once_again() -> None:
    rules, clock = grouper()
    assert (await rules.observe(alert())).first
    clock.advance(minutes=10)
    assert (await rules.observe(alert())).first


async def test_a_lone_alert_closes_without_a_follow_up() -> None:
    rules, clock = grouper()
    await rules.observe(alert())
    clock.advance(minutes=11)
    [group] = await rules.due()
    assert group.repeat_count == 0


async def test_different_unit_category_signature_or_source_are_different_alerts() -> None:
    rules, _ = grouper()
    assert (await rules.observe(alert())).first
    for changed in (
        {"unit_id": "U-2"},
        {"category": "アンチウイルス"},
        {"signature": "EICAR"},
        {"source": "192.168.1.99"},
        {"company_id": "C-2"},
    ):
        assert (await rules.observe(alert(**changed))).first, changed
    # the destination is not part of the identity of an alert
    assert not (await rules.observe(alert(destination="http://other.example/"))).first


async def test_a_redelivered_event_is_counted_once_and_its_first_stays_first() -> None:
    rules, clock = grouper()
    opening = alert()
    repeat = alert()
    assert (await rules.observe(opening)).first
    assert not (await rules.observe(repeat)).first
    assert not (await rules.observe(repeat)).first
    assert (await rules.observe(opening)).first  # the first event again: its deliveries dedupe the mail
    clock.advance(minutes=11)
    [group] = await rules.due()
    assert group.repeat_count == 1
    assert group.latest is not None
    assert group.latest.event_id == repeat.event_id


def test_group_key_ignores_surrounding_spaces() -> None:
    assert group_key(alert(signature=" X ")) == group_key(alert(signature="X"))


async def test_a_batch_is_placed_in_order_with_one_read_and_one_write_of_the_store() -> None:
    store = InMemoryAlertGroupStore()
    rules = AlertGrouper(store, window=WINDOW, clock=Clock())
    a, b = alert(source="10.0.0.1"), alert(source="10.0.0.2")
    batch = [a, alert(source="10.0.0.1"), b, alert(source="10.0.0.1"), a]  # the last: ``a`` delivered again
    seen = await rules.observe_many(batch)
    assert [o.first for o in seen] == [True, False, True, False, True]
    assert seen[1].group_id == seen[3].group_id == seen[0].group_id == seen[4].group_id
    assert store.operations == 2

    again = await rules.observe_many([alert(source="10.0.0.2"), batch[1]])  # a new repeat, a redelivered one
    assert [o.first for o in again] == [False, False]
    assert store.operations == 4
    counts = {g.group_id: g.repeat_count for g in await store.due(now=Clock().now + WINDOW)}
    assert counts == {seen[0].group_id: 2, seen[2].group_id: 1}


async def test_a_burst_still_closing_is_seen_so_its_follow_ups_can_leave_together() -> None:
    rules, clock = grouper()
    await rules.observe(alert(company_id="C-1", signature="a"))
    clock.advance(seconds=2)
    await rules.observe(alert(company_id="C-1", signature="b"))
    await rules.observe(alert(company_id="C-2", signature="c"))
    clock.advance(minutes=10, seconds=-1)  # the first group has closed, the others close in 1 s
    assert len(await rules.claim_due("me")) == 1
    assert await rules.closing_soon(["C-1", "C-2"], within=timedelta(seconds=5)) == {"C-1", "C-2"}
    assert await rules.closing_soon(["C-1"], within=timedelta(seconds=0.5)) == set()
    clock.advance(seconds=2)
    assert len(await rules.due()) == 2
    # Ended since the last claim, not claimed yet: still part of the burst (the next claim takes it).
    assert await rules.closing_soon(["C-1", "C-2"], within=timedelta(seconds=0.5)) == {"C-1", "C-2"}
    assert len(await rules.claim_due("me")) == 2
    assert await rules.closing_soon(["C-1", "C-2"], within=timedelta(seconds=5)) == set()
