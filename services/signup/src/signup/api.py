"""REST API of signup: the wizard's submission, the confirmation link, the questions, the operator's view."""

import hmac
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared.auth import CurrentOperator
from signup.limits import PendingApplicationExists, RateLimited
from signup.models import APPLICATION_NUMBER_PATTERN, PREFECTURES, ApplicationStatus, ConfirmationOutcome
from signup.schemas import (
    ApplicationAccepted,
    ApplicationDetail,
    ApplicationIn,
    ApplicationPage,
    ApplicationSummary,
    ConfirmationOut,
    ConfirmIn,
    ErrorBody,
    Prefectures,
    QuestionModel,
    QuestionSet,
)
from signup.service import InvalidApplication, PublishFailed, SignupService

FORM = "_form"
UNAVAILABLE = "ただいま申込みを受け付けられません。しばらくしてから再度お試しください。"
NOT_FOUND = "申込みが見つかりません。"
UNPROCESSABLE = 422
MALFORMED = "入力形式が正しくありません。"
TOO_MANY = "お申込みの操作が続いたため、受付を一時停止しています。しばらくしてから再度お試しください。"
PENDING = (
    "このメールアドレスには確認待ちのお申込みがあります。お送りした確認メールのURLから"
    "お手続きを完了してください（URLの有効期限: {expires}）。"
)
JST = ZoneInfo("Asia/Tokyo")


async def _service(request: Request) -> SignupService:
    service: SignupService = request.app.state.signup_service
    return service


Service = Annotated[SignupService, Depends(_service)]


async def _client_address(request: Request) -> str:
    """The browser's address as the gateway vouches for it, else the peer's address."""
    secret = request.app.state.settings.gateway_secret
    given = request.headers.get("x-gateway-secret", "")
    named = request.headers.get("x-client-address", "")
    if named and hmac.compare_digest(given.encode(), secret.encode()):
        return named[:64]
    return request.client.host if request.client else ""


ClientAddress = Annotated[str, Depends(_client_address)]


def _jst(moment: datetime) -> str:
    return moment.astimezone(JST).strftime("%Y/%m/%d %H:%M")


router = APIRouter()


def _errors(errors: dict[str, str], code: int = UNPROCESSABLE) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=code)


@router.post(
    "/applications",
    tags=["applications"],
    status_code=status.HTTP_201_CREATED,
    response_model=ApplicationAccepted,
    responses={
        200: {"model": ApplicationAccepted, "description": "Repeat of an earlier request with the same key."},
        409: {"model": ErrorBody, "description": "The address already has an application awaiting its link."},
        413: {"model": ErrorBody, "description": "The body is too large."},
        422: {"model": ErrorBody, "description": "Invalid fields, with the Japanese message for each."},
        429: {
            "model": ErrorBody,
            "description": "Too many confirmation mails for this client or address (see Retry-After).",
            "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
        },
        503: {"model": ErrorBody, "description": "The confirmation mail could not be queued; retry."},
    },
)
async def submit_application(
    body: ApplicationIn,
    service: Service,
    response: Response,
    client: ClientAddress,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="One per wizard session: a repeat returns the same application.",
        ),
    ] = None,
) -> Any:
    """Store a pending application and send the confirmation mail with its single-use link."""
    try:
        accepted = await service.submit(body.model_dump(), idempotency_key=idempotency_key, client=client)
    except InvalidApplication as exc:
        return _errors(exc.errors)
    except RateLimited as exc:
        limited = _errors({FORM: TOO_MANY}, status.HTTP_429_TOO_MANY_REQUESTS)
        limited.headers["Retry-After"] = str(exc.retry_after)
        return limited
    except PendingApplicationExists as exc:
        return _errors(
            {"company.email": PENDING.format(expires=_jst(exc.expires_at))}, status.HTTP_409_CONFLICT
        )
    except PublishFailed:
        return _errors({FORM: UNAVAILABLE}, status.HTTP_503_SERVICE_UNAVAILABLE)
    application = accepted.application
    if not accepted.created:
        response.status_code = status.HTTP_200_OK
    return ApplicationAccepted(
        application_number=application.application_number,
        status=application.status_at(service.now()),
        email=application.form.company.email,
        expires_at=application.expires_at,
    )


@router.post(
    "/applications/confirm",
    tags=["applications"],
    response_model=ConfirmationOut,
    responses={
        404: {"model": ConfirmationOut, "description": "Unknown or forged token (status ``invalid``)."},
        410: {"model": ConfirmationOut, "description": "The link expired (status ``expired``)."},
    },
)
async def confirm_application(body: ConfirmIn, service: Service) -> Any:
    """Complete the application of a confirmation link; opening it again says it is already complete."""
    result = await service.confirm(body.token)
    out = ConfirmationOut(status=result.outcome)
    if result.application is not None:
        out.application_number = result.application.application_number
        out.company_name = result.application.form.company.company_name
        out.email = result.application.form.company.email
    code = {
        ConfirmationOutcome.EXPIRED: status.HTTP_410_GONE,
        ConfirmationOutcome.INVALID: status.HTTP_404_NOT_FOUND,
    }.get(result.outcome, status.HTTP_200_OK)
    return JSONResponse(jsonable_encoder(out), status_code=code)


@router.get("/applications", tags=["operator"], response_model=ApplicationPage)
async def list_applications(
    service: Service,
    operator: CurrentOperator,
    status_: Annotated[ApplicationStatus | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ApplicationPage:
    """Applications, newest first, optionally only those with a status (operators only)."""
    page = await service.list_applications(status=status_, offset=offset, limit=limit)
    now = service.now()
    return ApplicationPage(
        items=[ApplicationSummary.of(a, now) for a in page.items],
        total=page.total,
        offset=offset,
        limit=limit,
    )


@router.get(
    "/applications/{application_number}",
    tags=["operator"],
    response_model=ApplicationDetail,
    responses={404: {"model": ErrorBody}},
)
async def get_application(application_number: str, service: Service, operator: CurrentOperator) -> Any:
    """Everything one application holds (operators only)."""
    application = None
    if APPLICATION_NUMBER_PATTERN.match(application_number):
        application = await service.get_application(application_number)
    if application is None:
        return _errors({FORM: NOT_FOUND}, status.HTTP_404_NOT_FOUND)
    return ApplicationDetail.of(application, service.now())


@router.get("/questions", tags=["questions"], response_model=QuestionSet)
async def get_questions(service: Service) -> QuestionSet:
    """The additional questions of step 3 (public: the wizard reads them); empty → skip step 3."""
    return QuestionSet(questions=[QuestionModel.of(q) for q in await service.current_questions()])


@router.put(
    "/questions",
    tags=["questions"],
    response_model=QuestionSet,
    responses={422: {"model": ErrorBody}},
)
async def put_questions(body: QuestionSet, service: Service, operator: CurrentOperator) -> Any:
    """Replace the additional questions (operators only); an empty list hides step 3."""
    try:
        saved = await service.replace_questions([q.to_domain() for q in body.questions])
    except InvalidApplication as exc:
        return _errors(exc.errors)
    return QuestionSet(questions=[QuestionModel.of(q) for q in saved])


@router.get("/reference/prefectures", tags=["reference"], response_model=Prefectures)
async def prefectures() -> Prefectures:
    """The 47 prefectures for the 都道府県 select."""
    return Prefectures(prefectures=list(PREFECTURES))


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Malformed bodies get the same structured 422 as rule violations, in Japanese."""
    errors: dict[str, str] = {}
    if isinstance(exc, RequestValidationError):
        for error in exc.errors():
            if error.get("type") == "json_invalid":
                errors[FORM] = MALFORMED
                continue
            # Union members (``int``/``str``) are not fields the applicant knows.
            location = [
                str(part)
                for part in error.get("loc", ())
                if part not in ("body", "query", "header", "int", "str")
            ]
            errors.setdefault(".".join(location) or FORM, MALFORMED)
    return _errors(errors or {FORM: MALFORMED})
