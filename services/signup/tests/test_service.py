"""Use cases with in-memory repositories, a recording publisher and an injected clock."""

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.events import ApplicationConfirmationRequested, ApplicationSubmitted, Event
from signup.models import (
    APPLICATION_NUMBER_PATTERN,
    DEFAULT_QUESTIONS,
    ApplicationStatus,
    Condition,
    ConfirmationOutcome,
    Question,
    company_id_for,
    new_application_number,
)
from signup.repository import InMemoryApplicationRepository, InMemoryQuestionRepository
from signup.service import InvalidApplication, PublishFailed, SignupService, hash_token

Form = Callable[..., dict[str, Any]]
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """Publishes into a list; can be told to fail like an unreachable Kafka."""

    def __init__(self) -> None:
        self.events: list[tuple[Event, str]] = []
        self.failing = False

    async def __call__(self, event: Event, *, key: str) -> None:
        if self.failing:
            raise ConnectionError("kafka down")
        self.events.append((event, key))

    def of(self, kind: type[Event]) -> list[tuple[Any, str]]:
        return [(e, k) for e, k in self.events if isinstance(e, kind)]


class Tokens:
    def __init__(self) -> None:
        self.issued: list[str] = []

    def __call__(self) -> str:
        self.issued.append(f"token-{len(self.issued)}")
        return self.issued[-1]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def publisher() -> Recorder:
    return Recorder()


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def repo() -> InMemoryApplicationRepository:
    return InMemoryApplicationRepository()


@pytest.fixture
def service(
    repo: InMemoryApplicationRepository, publisher: Recorder, clock: Clock, tokens: Tokens
) -> SignupService:
    return SignupService(
        applications=repo,
        questions=InMemoryQuestionRepository(),
        publish=publisher,
        public_url="https://portal.example.jp/",
        confirmation_ttl=timedelta(hours=24),
        clock=clock,
        token_factory=tokens,
    )


def test_application_numbers_are_aap_and_eight_unambiguous_characters() -> None:
    numbers = {new_application_number() for _ in range(2000)}
    assert len(numbers) == 2000
    for number in numbers:
        assert APPLICATION_NUMBER_PATTERN.match(number), number
        assert not set(number[4:]) & set("01OIL")
    assert company_id_for("AAP-7K2M9QXD") == "C-7K2M9QXD"


async def test_submit_stores_a_pending_application_and_asks_for_the_mail(
    service: SignupService,
    publisher: Recorder,
    repo: InMemoryApplicationRepository,
    tokens: Tokens,
    form: Form,
) -> None:
    accepted = await service.submit(form(), idempotency_key="wizard-1")
    application = accepted.application
    assert accepted.created
    assert application.status == ApplicationStatus.PENDING
    assert application.expires_at == START + timedelta(hours=24)
    [(event, key)] = publisher.of(ApplicationConfirmationRequested)
    assert key == application.application_number
    assert event.application_number == application.application_number
    assert event.email == "some@example.com"
    assert event.company_name == "日本電気株式会社"
    assert event.contact_name == "日電 太郎"
    assert event.confirmation_url == f"https://portal.example.jp/signup/confirm/{tokens.issued[0]}"
    assert event.expires_at == START + timedelta(hours=24)
    stored = repo.items[application.application_number]
    assert stored.token_hash == hash_token(tokens.issued[0])
    assert tokens.issued[0] not in repr(stored)
    assert stored.confirmation_published
    assert publisher.of(ApplicationSubmitted) == []


async def test_invalid_form_is_refused_with_field_messages(service: SignupService, form: Form) -> None:
    raw = form()
    raw["company"]["email_confirmation"] = "other@example.com"
    with pytest.raises(InvalidApplication) as caught:
        await service.submit(raw, idempotency_key="k")
    assert caught.value.errors == {"company.email_confirmation": "メールアドレスが一致しません。"}


async def test_a_repeated_submission_returns_the_same_application(
    service: SignupService, publisher: Recorder, repo: InMemoryApplicationRepository, form: Form
) -> None:
    first = await service.submit(form(), idempotency_key="wizard-1")
    second = await service.submit(form(), idempotency_key="wizard-1")
    assert not second.created
    assert second.application.application_number == first.application.application_number
    assert len(repo.items) == 1
    assert len(publisher.of(ApplicationConfirmationRequested)) == 1


async def test_different_wizard_sessions_get_different_applications(
    service: SignupService, repo: InMemoryApplicationRepository, form: Form
) -> None:
    a = await service.submit(form(), idempotency_key="wizard-1")
    b = await service.submit(form(), idempotency_key="wizard-2")
    c = await service.submit(form(), idempotency_key=None)
    assert (
        len(
            {
                a.application.application_number,
                b.application.application_number,
                c.application.application_number,
            }
        )
        == 3
    )
    assert len(repo.items) == 3


async def test_a_number_collision_is_retried_with_a_new_number(
    repo: InMemoryApplicationRepository, publisher: Recorder, clock: Clock, form: Form
) -> None:
    numbers: Iterator[str] = iter(["AAP-AAAAAAAA", "AAP-AAAAAAAA", "AAP-BBBBBBBB"])
    service = SignupService(
        applications=repo,
        questions=InMemoryQuestionRepository(),
        publish=publisher,
        public_url="http://127.0.0.1:8000",
        clock=clock,
        number_factory=lambda: next(numbers),
    )
    first = await service.submit(form(), idempotency_key="a")
    second = await service.submit(form(), idempotency_key="b")
    assert first.application.application_number == "AAP-AAAAAAAA"
    assert second.application.application_number == "AAP-BBBBBBBB"


async def test_kafka_down_at_submit_then_the_retry_sends_a_fresh_link(
    service: SignupService,
    publisher: Recorder,
    repo: InMemoryApplicationRepository,
    tokens: Tokens,
    form: Form,
) -> None:
    publisher.failing = True
    with pytest.raises(PublishFailed):
        await service.submit(form(), idempotency_key="wizard-1")
    [stored] = repo.items.values()
    assert not stored.confirmation_published
    publisher.failing = False
    again = await service.submit(form(), idempotency_key="wizard-1")
    assert again.application.application_number == stored.application_number
    [(event, _)] = publisher.of(ApplicationConfirmationRequested)
    assert event.confirmation_url.endswith(tokens.issued[1])
    # The first token never reached anyone and no longer works.
    assert (await service.confirm(tokens.issued[0])).outcome == ConfirmationOutcome.INVALID
    assert (await service.confirm(tokens.issued[1])).outcome == ConfirmationOutcome.COMPLETED


async def test_a_repeat_while_the_first_request_runs_sends_no_second_mail(
    service: SignupService, publisher: Recorder, repo: InMemoryApplicationRepository, clock: Clock, form: Form
) -> None:
    first = await service.submit(form(), idempotency_key="w")
    number = first.application.application_number
    # As if the first request had stored the application but not yet handed the mail to Kafka.
    repo.items[number].confirmation_published = False
    publisher.events.clear()
    await service.submit(form(), idempotency_key="w")
    assert publisher.events == []
    # A first request that died without a word is taken over after a minute.
    clock.now = START + timedelta(seconds=61)
    await service.submit(form(), idempotency_key="w")
    assert len(publisher.of(ApplicationConfirmationRequested)) == 1


async def test_confirming_completes_once_and_publishes_the_submission(
    service: SignupService, publisher: Recorder, tokens: Tokens, clock: Clock, form: Form
) -> None:
    raw = form()
    raw["destinations"].append(dict(raw["destinations"][0], units=2, address="大阪市北区1-1"))
    raw["login_users"][0]["mobile"] = "090-1234-5678"
    accepted = await service.submit(raw, idempotency_key="w")
    number = accepted.application.application_number
    clock.now = START + timedelta(hours=23, minutes=59)

    result = await service.confirm(tokens.issued[0])

    assert result.outcome == ConfirmationOutcome.COMPLETED
    [(event, key)] = publisher.of(ApplicationSubmitted)
    assert key == "C-" + number[4:] == event.company_id
    assert event.application_number == number
    assert event.company.postal_code == "2118666"
    assert [(d.destination_id, d.units) for d in event.destinations] == [("D1", 1), ("D2", 2)]
    assert [(u.name, u.email, u.mobile) for u in event.login_users] == [
        ("日電 太郎", "some@example.com", "09012345678")
    ]
    assert [(a.question_id, a.answer) for a in event.answers] == [
        ("chamber_member", "非会員"),
        ("chamber_name", ""),
        ("member_number", ""),
    ]
    assert event.occurred_at == clock.now

    again = await service.confirm(tokens.issued[0])
    assert again.outcome == ConfirmationOutcome.ALREADY_COMPLETED
    assert again.application is not None
    assert again.application.application_number == number
    assert len(publisher.of(ApplicationSubmitted)) == 1


async def test_an_expired_link_says_so_and_publishes_nothing(
    service: SignupService, publisher: Recorder, tokens: Tokens, clock: Clock, form: Form
) -> None:
    accepted = await service.submit(form(), idempotency_key="w")
    clock.now = START + timedelta(hours=24)
    result = await service.confirm(tokens.issued[0])
    assert result.outcome == ConfirmationOutcome.EXPIRED
    assert publisher.of(ApplicationSubmitted) == []
    page = await service.list_applications(status=ApplicationStatus.EXPIRED)
    assert [a.application_number for a in page.items] == [accepted.application.application_number]
    assert (await service.list_applications(status=ApplicationStatus.PENDING)).total == 0


@pytest.mark.parametrize("token", ["", "forged", "x" * 500, "token-0x"])
async def test_unknown_or_forged_links_are_invalid(service: SignupService, form: Form, token: str) -> None:
    await service.submit(form(), idempotency_key="w")
    assert (await service.confirm(token)).outcome == ConfirmationOutcome.INVALID


async def test_submission_that_missed_kafka_is_published_by_the_outbox(
    service: SignupService,
    publisher: Recorder,
    repo: InMemoryApplicationRepository,
    tokens: Tokens,
    form: Form,
) -> None:
    accepted = await service.submit(form(), idempotency_key="w")
    publisher.failing = True
    result = await service.confirm(tokens.issued[0])
    # The applicant still sees the completion: the contract is recorded, the event follows.
    assert result.outcome == ConfirmationOutcome.COMPLETED
    assert not repo.items[accepted.application.application_number].submitted_published
    assert await service.publish_pending_submissions() == 0

    publisher.failing = False
    assert await service.publish_pending_submissions() == 1
    [(event, _)] = publisher.of(ApplicationSubmitted)
    assert str(event.event_id) == repo.items[accepted.application.application_number].submitted_event_id
    assert await service.publish_pending_submissions() == 0


async def test_questions_default_to_the_chamber_of_commerce_set(service: SignupService) -> None:
    assert await service.current_questions() == list(DEFAULT_QUESTIONS)


async def test_an_empty_question_set_skips_step_three(service: SignupService, form: Form) -> None:
    await service.replace_questions([])
    assert await service.current_questions() == []
    accepted = await service.submit(form(answers={}), idempotency_key="w")
    assert accepted.application.form.answers == ()


async def test_operator_questions_apply_to_the_next_application(service: SignupService, form: Form) -> None:
    await service.replace_questions([Question("employees", "従業員数を入力してください。", required=True)])
    with pytest.raises(InvalidApplication) as caught:
        await service.submit(form(answers={}), idempotency_key="w")
    assert caught.value.errors == {"answers.employees": "この項目を入力してください。"}


@pytest.mark.parametrize(
    ("questions", "errors"),
    [
        ([Question("Bad-Id", "質問")], {"questions.0.question_id"}),
        ([Question("a", "質問"), Question("a", "質問2")], {"questions.1.question_id"}),
        ([Question("a", " ")], {"questions.0.text"}),
        ([Question("a", "質問", kind="choice", options=("はい",))], {"questions.0.options"}),
        ([Question("a", "質問", kind="date")], {"questions.0.kind"}),
        ([Question("b", "質問", required_when=Condition("a", "はい"))], {"questions.0.required_when"}),
        (
            [
                Question("a", "質問", kind="choice", options=("はい", "いいえ")),
                Question("b", "質問", required_when=Condition("a", "たぶん")),
            ],
            {"questions.1.required_when"},
        ),
    ],
)
async def test_bad_question_sets_are_refused(
    service: SignupService, questions: list[Question], errors: set[str]
) -> None:
    with pytest.raises(InvalidApplication) as caught:
        await service.replace_questions(questions)
    assert set(caught.value.errors) == errors
    assert all(re.search(r"[ぁ-んァ-ン一-龥]", m) for m in caught.value.errors.values())
    assert await service.current_questions() == list(DEFAULT_QUESTIONS)
