"""Use cases of signup: accept an application, confirm it through its link, manage the questions."""

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

from shared.events import (
    AdditionalAnswer,
    ApplicationConfirmationRequested,
    ApplicationSubmitted,
    CompanyProfile,
    DeliveryDestination,
    Event,
    LoginUser,
    utc_now,
)
from signup.limits import Quota, SubmissionLimits, email_key
from signup.models import (
    DEFAULT_QUESTIONS,
    Application,
    ApplicationForm,
    ApplicationStatus,
    ConfirmationOutcome,
    Page,
    Question,
    new_application_number,
    validate_application,
    validate_questions,
)
from signup.repository import ApplicationRepository, DuplicateApplication, QuestionRepository

log = logging.getLogger(__name__)

NUMBER_ATTEMPTS = 8
# A repeat finding no mail sent yet re-sends only if the first attempt failed, or died without a word.
STALLED_AFTER = timedelta(seconds=60)
MAX_IDEMPOTENCY_KEY = 200
CLIENT_QUOTA = Quota(10, timedelta(hours=1))
EMAIL_QUOTA = Quota(3, timedelta(hours=1))


class Publisher(Protocol):
    """Publishes an event keyed by its aggregate id."""

    async def __call__(self, event: Event, *, key: str) -> None: ...


class InvalidApplication(Exception):
    """The form breaks one or more rules; ``errors`` maps field paths to Japanese messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(f"{len(errors)} invalid fields")
        self.errors = errors


class PublishFailed(Exception):
    """Kafka did not take the event; the caller may retry with the same idempotency key."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """The result of submitting the wizard."""

    application: Application
    created: bool


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The result of opening a confirmation link."""

    outcome: ConfirmationOutcome
    application: Application | None = None


def hash_token(token: str) -> str:
    """Only this hash of a confirmation token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """An unguessable confirmation token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class SignupService:
    """Applications from the wizard to the confirmed contract."""

    def __init__(
        self,
        *,
        applications: ApplicationRepository,
        questions: QuestionRepository,
        publish: Publisher,
        public_url: str,
        confirmation_ttl: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = utc_now,
        number_factory: Callable[[], str] = new_application_number,
        token_factory: Callable[[], str] = new_token,
        limits: SubmissionLimits | None = None,
        client_quota: Quota = CLIENT_QUOTA,
        email_quota: Quota = EMAIL_QUOTA,
    ) -> None:
        self._applications = applications
        self._questions = questions
        self._publish = publish
        self._public_url = public_url.rstrip("/")
        self._ttl = confirmation_ttl
        self._clock = clock
        self._new_number = number_factory
        self._new_token = token_factory
        self._limits = limits
        self._client_quota = client_quota
        self._email_quota = email_quota

    # --- questions ---

    async def current_questions(self) -> list[Question]:
        """The operator's questions, or the default set if none was ever configured."""
        configured = await self._questions.get()
        return list(DEFAULT_QUESTIONS) if configured is None else configured

    async def replace_questions(self, questions: list[Question]) -> list[Question]:
        """Replace the question set; an empty set makes the wizard skip step 3."""
        errors = validate_questions(questions)
        if errors:
            raise InvalidApplication(errors)
        await self._questions.put(questions)
        return questions

    # --- submit ---

    def validate(self, raw: Mapping[str, Any], questions: list[Question]) -> None:
        """Raise ``InvalidApplication`` if the form breaks a rule."""
        _, errors = validate_application(raw, questions)
        if errors:
            raise InvalidApplication(errors)

    async def submit(
        self, raw: Mapping[str, Any], *, idempotency_key: str | None, client: str = ""
    ) -> Accepted:
        """Store a pending application and ask for its confirmation mail.

        A repeat with the same idempotency key returns the first application and sends nothing again
        (unless the first mail could not be handed to Kafka, in which case a new link is sent).
        Every mail counts against ``client`` and the address (``RateLimited``), and an address with
        an application awaiting confirmation gets no other (``PendingApplicationExists``).
        """
        key = (idempotency_key or "").strip()
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidApplication({"idempotency_key": "Idempotency-Key が長すぎます。"})
        if key:
            existing = await self._applications.by_idempotency_key(key)
            if existing is not None:
                return await self._repeat(existing, client)
        form, errors = validate_application(raw, await self.current_questions())
        if form is None:
            raise InvalidApplication(errors)
        token = self._new_token()
        now = self._clock()
        key = key or f"none:{uuid4()}"
        await self._count_mail(client, form.company.email, now)
        if self._limits is not None:
            await self._limits.claim_email(form.company.email, key, now + self._ttl, now)
        try:
            stored = await self._store(form, token, key, now)
        except BaseException:
            await self._release(form.company.email, key)
            raise
        if isinstance(stored, Accepted):
            return stored
        application, token = stored
        log.info("application stored", extra={"application_number": application.application_number})
        try:
            await self._request_confirmation(application, token)
        except PublishFailed:
            await self._release(form.company.email, key)
            raise
        return Accepted(application, created=True)

    async def _count_mail(self, client: str, email: str, now: datetime) -> None:
        if self._limits is not None:
            await self._limits.hit("client", client or "unknown", self._client_quota, now)
            await self._limits.hit("email", email_key(email), self._email_quota, now)

    async def _release(self, email: str, key: str) -> None:
        if self._limits is not None:
            await self._limits.release_email(email, key)

    async def _store(
        self, form: ApplicationForm, token: str, key: str, now: datetime
    ) -> tuple[Application, str] | Accepted:
        """Insert the application under a free number (and token); a racing double click gets its winner."""
        for _ in range(NUMBER_ATTEMPTS):
            application = Application(
                application_number=self._new_number(),
                form=form,
                status=ApplicationStatus.PENDING,
                token_hash=hash_token(token),
                idempotency_key=key,
                created_at=now,
                expires_at=now + self._ttl,
            )
            try:
                await self._applications.add(application)
            except DuplicateApplication as exc:
                if exc.field == "idempotency_key":
                    # A double click racing the first request: that request owns the application.
                    raced = await self._applications.by_idempotency_key(key)
                    if raced is not None:
                        return Accepted(raced, created=False)
                if exc.field == "token_hash":
                    token = self._new_token()
                continue
            return application, token
        raise RuntimeError("no free application number after several attempts")

    async def _repeat(self, existing: Application, client: str) -> Accepted:
        """A repeat of a submission; the first request may still be running (a double click)."""
        now = self._clock()
        unsent = existing.status == ApplicationStatus.PENDING and not existing.confirmation_published
        if unsent and (existing.confirmation_failed or now - existing.created_at > STALLED_AFTER):
            await self._count_mail(client, existing.form.company.email, now)
            token = self._new_token()
            replaced = await self._applications.replace_token(
                existing.application_number,
                old_hash=existing.token_hash,
                token_hash=hash_token(token),
                expires_at=now + self._ttl,
            )
            if replaced:
                existing.token_hash, existing.expires_at = hash_token(token), now + self._ttl
                await self._request_confirmation(existing, token)
        return Accepted(existing, created=False)

    def confirmation_url(self, token: str) -> str:
        return f"{self._public_url}/signup/confirm/{token}"

    async def _request_confirmation(self, application: Application, token: str) -> None:
        company = application.form.company
        event = ApplicationConfirmationRequested(
            application_number=application.application_number,
            company_name=company.company_name,
            contact_name=f"{company.last_name} {company.first_name}",
            email=company.email,
            confirmation_url=self.confirmation_url(token),
            expires_at=application.expires_at,
        )
        try:
            await self._publish(event, key=application.application_number)
        except Exception as exc:
            log.exception("confirmation request not published", extra=_number(application))
            await self._applications.mark_confirmation_failed(application.application_number)
            raise PublishFailed(str(exc)) from exc
        application.confirmation_published = True
        await self._applications.mark_confirmation_published(application.application_number)

    # --- confirm ---

    async def confirm(self, token: str) -> Confirmation:
        """Complete the application of this link: once; later opens say it is already complete."""
        if not token or len(token) > 200:
            return Confirmation(ConfirmationOutcome.INVALID)
        token_hash = hash_token(token)
        now = self._clock()
        confirmed = await self._applications.confirm(token_hash, now=now, event_id=str(uuid4()))
        if confirmed is not None:
            log.info("application confirmed", extra=_number(confirmed))
            await self._release(confirmed.form.company.email, confirmed.idempotency_key)
            await self._publish_submitted(confirmed)
            return Confirmation(ConfirmationOutcome.COMPLETED, confirmed)
        existing = await self._applications.by_token_hash(token_hash)
        if existing is None:
            return Confirmation(ConfirmationOutcome.INVALID)
        if existing.status == ApplicationStatus.CONFIRMED:
            return Confirmation(ConfirmationOutcome.ALREADY_COMPLETED, existing)
        return Confirmation(ConfirmationOutcome.EXPIRED, existing)

    async def publish_pending_submissions(self) -> int:
        """Publish ``application-submitted`` for every confirmed application still waiting (the outbox)."""
        published = 0
        for application in await self._applications.unpublished_submissions():
            if await self._publish_submitted(application):
                published += 1
        return published

    async def _publish_submitted(self, application: Application) -> bool:
        try:
            await self._publish(submitted_event(application), key=application.company_id)
        except Exception:
            # The application stays in the outbox; the drain loop publishes it later.
            log.exception("application-submitted not published yet", extra=_number(application))
            return False
        await self._applications.mark_submitted_published(application.application_number)
        application.submitted_published = True
        return True

    # --- operator ---

    async def list_applications(
        self, *, status: ApplicationStatus | None, offset: int = 0, limit: int = 50
    ) -> Page:
        return await self._applications.page(status=status, now=self._clock(), offset=offset, limit=limit)

    async def get_application(self, number: str) -> Application | None:
        return await self._applications.by_number(number)

    def now(self) -> datetime:
        return self._clock()


def submitted_event(application: Application) -> ApplicationSubmitted:
    """The contract fact that identity and device-registry act on; its id is fixed at confirmation."""
    form = application.form
    company = form.company
    return ApplicationSubmitted(
        event_id=UUID(application.submitted_event_id) if application.submitted_event_id else uuid4(),
        occurred_at=application.confirmed_at or utc_now(),
        application_number=application.application_number,
        company_id=application.company_id,
        company=CompanyProfile(
            company_name=company.company_name,
            last_name=company.last_name,
            first_name=company.first_name,
            department=company.department,
            position=company.position,
            email=company.email,
            postal_code=company.postal_code,
            prefecture=company.prefecture,
            address=company.address,
            phone=company.phone,
        ),
        destinations=[
            DeliveryDestination(
                destination_id=d.destination_id,
                company_name=d.company_name,
                last_name=d.last_name,
                first_name=d.first_name,
                department=d.department,
                postal_code=d.postal_code,
                prefecture=d.prefecture,
                address=d.address,
                phone=d.phone,
                units=d.units,
            )
            for d in form.destinations
        ],
        login_users=[LoginUser(name=u.name, email=u.email, mobile=u.mobile) for u in form.login_users],
        answers=[
            AdditionalAnswer(question_id=a.question_id, question=a.question, answer=a.answer)
            for a in form.answers
        ],
    )


def _number(application: Application) -> dict[str, str]:
    return {"application_number": application.application_number}
