"""The notifier's Kafka subscribers through FastStream's TestKafkaBroker: each topic reaches its use case."""

from typing import Any, cast

from faststream.kafka import TestKafkaBroker
from notifier_factories import alert, confirmation, provisioned, reissued, sms_code

from notifier import handlers
from notifier.settings import Settings
from shared.app import ServiceRuntime, create_runtime
from shared.events import AccountEmailChanged, MonthlyReportReady
from support.handlers import UseCases, collect_dead_letters


def _runtime() -> ServiceRuntime:
    return create_runtime("notifier", Settings())


async def test_each_low_volume_topic_reaches_its_use_case_with_the_typed_event() -> None:
    runtime, notifier = _runtime(), UseCases()
    handlers.register(runtime, cast(Any, notifier), group="notifier")
    moved = AccountEmailChanged(company_id="C-1", account_id="A-1", name="日電 太郎", email="new@example.com")
    events = [confirmation(), provisioned(), reissued(), sms_code(), moved]
    async with TestKafkaBroker(runtime.broker) as broker:
        for event in events:
            await broker.publish(event.model_dump(mode="json"), topic=event.TOPIC, key=b"C-1")

    assert notifier.calls == [
        ("application_confirmation_requested", events[0]),
        ("account_provisioned", events[1]),
        ("password_reissued", events[2]),
        ("send_sms_code", events[3]),
        ("account_email_changed", events[4]),
    ]


async def test_an_unknown_event_type_goes_to_the_dead_letter_topic_and_calls_nothing() -> None:
    runtime, notifier = _runtime(), UseCases()
    handlers.register(runtime, cast(Any, notifier), group="notifier")
    letters = collect_dead_letters(runtime.broker)
    stray = provisioned().model_dump(mode="json") | {"event_type": "something-else"}
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(stray, topic=provisioned().TOPIC, key=b"C-1")

    assert notifier.calls == []
    assert [(letter["reason_code"], letter["source_topic"]) for letter in letters] == [
        ("unprocessable", "account-provisioned")
    ]
    assert "something-else" in letters[0]["reason"]


async def test_a_batch_of_alerts_is_handed_over_whole_and_a_malformed_one_goes_to_dead_letter_alone() -> None:
    runtime, notifier = _runtime(), UseCases()
    handlers.register(runtime, cast(Any, notifier), group="notifier")
    letters = collect_dead_letters(runtime.broker)
    first, second = alert(company_id="C-1"), alert(company_id="C-1", signature="Phishing")
    broken = alert(company_id="C-1").model_dump(mode="json") | {"severity": "very"}
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish_batch(
            first.model_dump(mode="json"), broken, second.model_dump(mode="json"), topic="alert-detected"
        )

    assert notifier.calls == [("alerts_detected", [first, second])]
    assert [(letter["reason_code"], letter["source_topic"]) for letter in letters] == [
        ("invalid-event", "alert-detected")
    ]


async def test_a_monthly_report_event_reaches_the_monthly_mailer() -> None:
    runtime, mailer = _runtime(), UseCases(report_ready=1)
    handlers.register_monthly(runtime, cast(Any, mailer), group="notifier")
    ready = MonthlyReportReady(company_id="C-1", month="2026-10", report={"threats": 3})
    async with TestKafkaBroker(runtime.broker) as broker:
        await broker.publish(ready.model_dump(mode="json"), topic="monthly-report-ready", key=b"C-1")

    assert mailer.calls == [("report_ready", ready)]
