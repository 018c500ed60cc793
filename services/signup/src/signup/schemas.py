"""HTTP bodies of the signup API.

Request fields are plain strings as the applicant typed them: the rules (and their Japanese messages)
live in ``signup.models``, so the API and the wizard report the same thing for the same field.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from signup.models import (
    Answer,
    Application,
    ApplicationStatus,
    Company,
    Condition,
    ConfirmationOutcome,
    Destination,
    Question,
    User,
)

_BASIC_EXAMPLE: dict[str, Any] = {
    "company_name": "日本電気株式会社",
    "last_name": "日電",
    "first_name": "太郎",
    "department": "",
    "position": "",
    "email": "some@example.com",
    "email_confirmation": "some@example.com",
    "postal_code": "211-8666",
    "prefecture": "神奈川県",
    "address": "川崎市中原区下沼部1753",
    "phone": "010-2345-6789",
}


class CompanyIn(BaseModel):
    """基本情報 (guide §3 step 1)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_BASIC_EXAMPLE]})

    company_name: str = Field(default="", description="会社名 (required).")
    last_name: str = Field(default="", description="氏名 姓 (required).")
    first_name: str = Field(default="", description="氏名 名 (required).")
    department: str = Field(default="", description="部署名.")
    position: str = Field(default="", description="役職.")
    email: str = Field(default="", description="メールアドレス (required); the confirmation mail goes here.")
    email_confirmation: str = Field(default="", description="メールアドレス (確認用); must equal ``email``.")
    postal_code: str = Field(default="", description="郵便番号: 7 digits, a hyphen is tolerated.")
    prefecture: str = Field(default="", description="都道府県: one of GET /reference/prefectures.")
    address: str = Field(default="", description="住所 (required).")
    phone: str = Field(default="", description="電話番号: 10 or 11 digits, hyphens tolerated.")


class DestinationIn(BaseModel):
    """UTM送付先 (guide §3 step 2)."""

    company_name: str = ""
    last_name: str = ""
    first_name: str = ""
    department: str = ""
    postal_code: str = ""
    prefecture: str = ""
    address: str = ""
    phone: str = ""
    units: int | str = Field(default="", description="台数: at least 1; at most 10 over all destinations.")


class LoginUserIn(BaseModel):
    """ログインユーザ (guide §3 step 4)."""

    last_name: str = ""
    first_name: str = ""
    email: str = ""
    email_confirmation: str = ""
    mobile: str = Field(default="", description="携帯番号: optional, 10 or 11 digits.")


class ApplicationIn(BaseModel):
    """The whole wizard, submitted at step 5."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "company": _BASIC_EXAMPLE,
                    "destinations": [
                        {
                            "company_name": "日本電気株式会社",
                            "last_name": "日電",
                            "first_name": "太郎",
                            "postal_code": "2118666",
                            "prefecture": "神奈川県",
                            "address": "川崎市中原区下沼部1753",
                            "phone": "01023456789",
                            "units": 1,
                        }
                    ],
                    "login_users": [
                        {
                            "last_name": "日電",
                            "first_name": "太郎",
                            "email": "some@example.com",
                            "email_confirmation": "some@example.com",
                            "mobile": "",
                        }
                    ],
                    "answers": {"chamber_member": "非会員", "chamber_name": "", "member_number": ""},
                }
            ]
        }
    )

    company: CompanyIn = Field(default_factory=CompanyIn)
    destinations: list[DestinationIn] = Field(default_factory=list, description="1 to 10 destinations.")
    login_users: list[LoginUserIn] = Field(default_factory=list, description="1 to 3 login users.")
    answers: dict[str, str] = Field(
        default_factory=dict, description="Question id → answer (GET /questions)."
    )


class ErrorBody(BaseModel):
    """Field path → Japanese message shown beside that field; ``_form`` for the form as a whole."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "errors": {
                        "company.email_confirmation": "メールアドレスが一致しません。",
                        "destinations.0.postal_code": "郵便番号は7桁の数字で入力してください。",
                    }
                }
            ]
        }
    )

    errors: dict[str, str]


class ApplicationAccepted(BaseModel):
    """A pending application; the confirmation mail is on its way to ``email``."""

    application_number: str = Field(examples=["AAP-7K2M9QXD"])
    status: ApplicationStatus
    email: str = Field(examples=["some@example.com"])
    expires_at: datetime = Field(description="When the confirmation link stops working (UTC).")


class ConfirmIn(BaseModel):
    """The token from the confirmation link."""

    token: str = Field(max_length=500, examples=["k3J9...x2Q"])


class ConfirmationOut(BaseModel):
    """What opening the link did: completed now, already completed earlier, expired, or invalid."""

    status: ConfirmationOutcome
    application_number: str | None = Field(default=None, examples=["AAP-7K2M9QXD"])
    company_name: str | None = None
    email: str | None = None


class ConditionModel(BaseModel):
    """Required only when question ``question_id`` was answered ``answer``."""

    question_id: str = Field(examples=["chamber_member"])
    answer: str = Field(examples=["会員"])


class QuestionModel(BaseModel):
    """An additional question shown at step 3."""

    question_id: str = Field(examples=["chamber_member"])
    text: str = Field(examples=["商工会議所/商工会の会員ですか？"])
    kind: Literal["text", "choice"] = "text"
    options: list[str] = Field(default_factory=list, examples=[["会員", "非会員"]])
    required: bool = False
    required_when: ConditionModel | None = None

    @classmethod
    def of(cls, question: Question) -> "QuestionModel":
        condition = question.required_when
        return cls(
            question_id=question.question_id,
            text=question.text,
            kind="choice" if question.kind == "choice" else "text",
            options=list(question.options),
            required=question.required,
            required_when=ConditionModel(question_id=condition.question_id, answer=condition.answer)
            if condition
            else None,
        )

    def to_domain(self) -> Question:
        return Question(
            question_id=self.question_id,
            text=self.text,
            kind=self.kind,
            options=tuple(self.options),
            required=self.required,
            required_when=Condition(self.required_when.question_id, self.required_when.answer)
            if self.required_when
            else None,
        )


class QuestionSet(BaseModel):
    """The additional questions; empty means the wizard skips step 3."""

    questions: list[QuestionModel]


class Prefectures(BaseModel):
    """The 47 prefectures in the usual order (北海道 … 沖縄県)."""

    prefectures: list[str]


class ApplicationSummary(BaseModel):
    """One line of the operator's list."""

    application_number: str = Field(examples=["AAP-7K2M9QXD"])
    company_id: str = Field(examples=["C-7K2M9QXD"])
    status: ApplicationStatus
    company_name: str
    contact_name: str
    email: str
    total_units: int
    login_user_count: int
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None

    @classmethod
    def of(cls, application: Application, now: datetime) -> "ApplicationSummary":
        form = application.form
        return cls(
            application_number=application.application_number,
            company_id=application.company_id,
            status=application.status_at(now),
            company_name=form.company.company_name,
            contact_name=f"{form.company.last_name} {form.company.first_name}",
            email=form.company.email,
            total_units=form.total_units,
            login_user_count=len(form.login_users),
            created_at=application.created_at,
            expires_at=application.expires_at,
            confirmed_at=application.confirmed_at,
        )


class ApplicationDetail(ApplicationSummary):
    """Everything the applicant entered, for the operator."""

    company: Company
    destinations: list[Destination]
    login_users: list[User]
    answers: list[Answer]
    submitted_published: bool = Field(description="Whether application-submitted has reached Kafka.")

    @classmethod
    def of(cls, application: Application, now: datetime) -> "ApplicationDetail":
        form = application.form
        summary = ApplicationSummary.of(application, now)
        return cls(
            **summary.model_dump(),
            company=form.company,
            destinations=list(form.destinations),
            login_users=list(form.login_users),
            answers=list(form.answers),
            submitted_published=application.submitted_published,
        )


class ApplicationPage(BaseModel):
    """A page of applications, newest first."""

    items: list[ApplicationSummary]
    total: int
    offset: int
    limit: int
