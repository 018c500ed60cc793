"""The application domain: its validation rules, additional questions and identifiers.

Validation works on the raw form (strings as typed) and returns either the normalised application or
the errors keyed by field path (``company.email``, ``destinations.0.units``, ``answers.chamber_member``)
with the Japanese message shown beside that field.
"""

import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

PREFECTURES: tuple[str, ...] = (
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
)

MAX_UNITS_TOTAL = 10
MAX_LOGIN_USERS = 3
MAX_TEXT = 100
MAX_ADDRESS = 200
MAX_EMAIL = 254
MAX_ANSWER = 200

# Letters and digits that cannot be misread for one another (no 0/O, 1/I/L).
NUMBER_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
NUMBER_LENGTH = 8
APPLICATION_NUMBER_PATTERN = re.compile(rf"^AAP-[{NUMBER_ALPHABET}]{{{NUMBER_LENGTH}}}$")

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_HYPHENS = re.compile(r"[-‐‑‒–—―−ー－]")


class ApplicationStatus(StrEnum):
    """Where an application stands."""

    PENDING = "pending"  # waiting for its confirmation link to be opened
    CONFIRMED = "confirmed"  # the link was opened; the contract starts
    EXPIRED = "expired"  # the link was never opened in time


class ConfirmationOutcome(StrEnum):
    """What opening a confirmation link did."""

    COMPLETED = "completed"
    ALREADY_COMPLETED = "already_completed"
    EXPIRED = "expired"
    INVALID = "invalid"


def new_application_number() -> str:
    """A fresh ``AAP-XXXXXXXX`` number (uniqueness is enforced by the repository)."""
    return "AAP-" + "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(NUMBER_LENGTH))


def company_id_for(application_number: str) -> str:
    """The tenant id that a confirmed application creates: ``C-`` + the number's 8 characters."""
    return "C-" + application_number.removeprefix("AAP-")


# --- normalised application ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Company:
    """Basic information (guide §3 step 1)."""

    company_name: str
    last_name: str
    first_name: str
    department: str
    position: str
    email: str
    postal_code: str
    prefecture: str
    address: str
    phone: str


@dataclass(frozen=True, slots=True)
class Destination:
    """A UTM delivery destination (guide §3 step 2)."""

    destination_id: str
    company_name: str
    last_name: str
    first_name: str
    department: str
    postal_code: str
    prefecture: str
    address: str
    phone: str
    units: int


@dataclass(frozen=True, slots=True)
class User:
    """A login user (guide §3 step 4)."""

    last_name: str
    first_name: str
    email: str
    mobile: str

    @property
    def name(self) -> str:
        return f"{self.last_name} {self.first_name}"


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer to an additional question, with the question text as it was asked."""

    question_id: str
    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class ApplicationForm:
    """A validated, normalised application."""

    company: Company
    destinations: tuple[Destination, ...]
    login_users: tuple[User, ...]
    answers: tuple[Answer, ...]

    @property
    def total_units(self) -> int:
        return sum(d.units for d in self.destinations)


@dataclass(slots=True)
class Application:
    """A stored application."""

    application_number: str
    form: ApplicationForm
    status: ApplicationStatus
    token_hash: str
    idempotency_key: str
    created_at: datetime
    expires_at: datetime
    confirmation_published: bool = False
    confirmation_failed: bool = False
    confirmed_at: datetime | None = None
    submitted_event_id: str | None = None
    submitted_published: bool = False

    @property
    def company_id(self) -> str:
        return company_id_for(self.application_number)

    def status_at(self, now: datetime) -> ApplicationStatus:
        """The status as a person sees it at ``now`` (an unopened link past its time is expired)."""
        if self.status == ApplicationStatus.PENDING and now >= self.expires_at:
            return ApplicationStatus.EXPIRED
        return self.status


# --- additional questions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """A question is required only when another question got a given answer."""

    question_id: str
    answer: str


@dataclass(frozen=True, slots=True)
class Question:
    """An additional question configured by the operator (guide §3 step 3)."""

    question_id: str
    text: str
    kind: str = "text"  # "text" or "choice"
    options: tuple[str, ...] = ()
    required: bool = False
    required_when: Condition | None = None


DEFAULT_QUESTIONS: tuple[Question, ...] = (
    Question(
        question_id="chamber_member",
        text="商工会議所/商工会の会員ですか？",
        kind="choice",
        options=("会員", "非会員"),
        required=True,
    ),
    Question(question_id="chamber_name", text="会員の場合、商工会議所/商工会名を入力してください。"),
    Question(
        question_id="member_number",
        text="会員の場合、会員番号を入力してください。",
        required_when=Condition(question_id="chamber_member", answer="会員"),
    ),
)

_QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_QUESTIONS = 20


def validate_questions(questions: list[Question]) -> dict[str, str]:
    """Errors of an operator's question set, keyed ``questions.<i>.<field>``; empty when it is valid."""
    errors: dict[str, str] = {}
    if len(questions) > MAX_QUESTIONS:
        errors["questions"] = f"質問は{MAX_QUESTIONS}件までです。"
    seen: dict[str, Question] = {}
    for i, question in enumerate(questions):
        path = f"questions.{i}"
        if not _QUESTION_ID.match(question.question_id):
            errors[f"{path}.question_id"] = (
                "IDは英小文字で始まる英小文字・数字・_の40文字以内で入力してください。"
            )
        elif question.question_id in seen:
            errors[f"{path}.question_id"] = "IDが重複しています。"
        if not question.text.strip():
            errors[f"{path}.text"] = "質問文を入力してください。"
        elif len(question.text) > MAX_ANSWER:
            errors[f"{path}.text"] = f"質問文は{MAX_ANSWER}文字以内で入力してください。"
        if question.kind not in ("text", "choice"):
            errors[f"{path}.kind"] = "種類は text または choice を指定してください。"
        elif question.kind == "choice" and (
            len(question.options) < 2
            or any(not o.strip() for o in question.options)
            or len(set(question.options)) != len(question.options)
        ):
            errors[f"{path}.options"] = "選択肢は重複のない2つ以上を入力してください。"
        if question.required_when is not None:
            parent = seen.get(question.required_when.question_id)
            if parent is None:
                errors[f"{path}.required_when"] = "条件には、この質問より前の質問を指定してください。"
            elif parent.kind == "choice" and question.required_when.answer not in parent.options:
                errors[f"{path}.required_when"] = "条件の回答は、指定した質問の選択肢から選んでください。"
        seen.setdefault(question.question_id, question)
    return errors


# --- validation of the form --------------------------------------------------------------------


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()


def _digits(value: str) -> str:
    """Full-width digits become ASCII and hyphens (of any width) are dropped."""
    return _HYPHENS.sub("", unicodedata.normalize("NFKC", value)).replace(" ", "")


class _Checker:
    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def required(self, path: str, value: str, label: str, *, max_length: int = MAX_TEXT) -> str:
        if not value:
            self.errors[path] = f"{label}を入力してください。"
        elif len(value) > max_length:
            self.errors[path] = f"{label}は{max_length}文字以内で入力してください。"
        return value

    def optional(self, path: str, value: str, label: str, *, max_length: int = MAX_TEXT) -> str:
        if len(value) > max_length:
            self.errors[path] = f"{label}は{max_length}文字以内で入力してください。"
        return value

    def name(self, path: str, last: str, first: str) -> None:
        if not last and not first:
            self.errors[f"{path}.last_name"] = "姓を入力してください。"
            self.errors[f"{path}.first_name"] = "名を入力してください。"
            return
        self.required(f"{path}.last_name", last, "姓", max_length=50)
        self.required(f"{path}.first_name", first, "名", max_length=50)

    def email_pair(self, path: str, email: str, confirmation: str) -> str:
        if not email:
            self.errors[f"{path}.email"] = "メールアドレスを入力してください。"
        elif len(email) > MAX_EMAIL or not _EMAIL.match(email):
            self.errors[f"{path}.email"] = "メールアドレスの形式が正しくありません。"
        if not confirmation:
            self.errors[f"{path}.email_confirmation"] = "確認用メールアドレスを入力してください。"
        elif email and confirmation != email:
            self.errors[f"{path}.email_confirmation"] = "メールアドレスが一致しません。"
        return email

    def postal_code(self, path: str, value: str) -> str:
        digits = _digits(value)
        if not value:
            self.errors[path] = "郵便番号を入力してください。"
        elif not re.fullmatch(r"\d{7}", digits) or not re.fullmatch(r"\d{3}[^\d]?\d{4}", _nfkc(value)):
            self.errors[path] = "郵便番号は7桁の数字で入力してください。"
        return digits

    def prefecture(self, path: str, value: str) -> str:
        if not value:
            self.errors[path] = "都道府県を選択してください。"
        elif value not in PREFECTURES:
            self.errors[path] = "都道府県を一覧から選択してください。"
        return value

    def phone(self, path: str, value: str, label: str, *, required: bool) -> str:
        digits = _digits(value)
        if not value:
            if required:
                self.errors[path] = f"{label}を入力してください。"
        elif not re.fullmatch(r"\d{10,11}", digits):
            self.errors[path] = f"{label}は10桁または11桁の数字で入力してください（ハイフン可）。"
        return digits


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).replace(" ", "")


def _items(raw: Mapping[str, Any], key: str) -> list[Mapping[str, Any]] | None:
    value = raw.get(key)
    if not isinstance(value, list):
        return None
    return [item if isinstance(item, Mapping) else {} for item in value]


def validate_application(
    raw: Mapping[str, Any], questions: tuple[Question, ...] | list[Question]
) -> tuple[ApplicationForm | None, dict[str, str]]:
    """Check the raw form against every rule of the guide's wizard.

    Returns the normalised application and no errors, or ``None`` and the errors by field path.
    """
    check = _Checker()
    company_raw = raw.get("company")
    company_raw = company_raw if isinstance(company_raw, Mapping) else {}
    company = _company(check, company_raw)
    destinations = _destinations(check, raw)
    users = _users(check, raw)
    answers_raw = raw.get("answers")
    answers = _answers(check, answers_raw if isinstance(answers_raw, Mapping) else {}, questions)
    if check.errors:
        return None, check.errors
    return ApplicationForm(company, tuple(destinations), tuple(users), tuple(answers)), {}


def _company(check: _Checker, raw: Mapping[str, Any]) -> Company:
    p = "company"
    last, first = _text(raw, "last_name"), _text(raw, "first_name")
    check.name(p, last, first)
    return Company(
        company_name=check.required(f"{p}.company_name", _text(raw, "company_name"), "会社名"),
        last_name=last,
        first_name=first,
        department=check.optional(f"{p}.department", _text(raw, "department"), "部署名"),
        position=check.optional(f"{p}.position", _text(raw, "position"), "役職"),
        email=check.email_pair(p, _text(raw, "email"), _text(raw, "email_confirmation")),
        postal_code=check.postal_code(f"{p}.postal_code", _text(raw, "postal_code")),
        prefecture=check.prefecture(f"{p}.prefecture", _text(raw, "prefecture")),
        address=check.required(f"{p}.address", _text(raw, "address"), "住所", max_length=MAX_ADDRESS),
        phone=check.phone(f"{p}.phone", _text(raw, "phone"), "電話番号", required=True),
    )


def _units(check: _Checker, path: str, raw: Mapping[str, Any]) -> int:
    value = raw.get("units")
    text = _nfkc(str(value)) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if text == "":
        check.errors[path] = "台数を入力してください。"
        return 0
    if not re.fullmatch(r"\d{1,3}", text) or int(text) < 1:
        check.errors[path] = "台数は1以上の整数で入力してください。"
        return 0
    if int(text) > MAX_UNITS_TOTAL:
        check.errors[path] = f"台数は合計{MAX_UNITS_TOTAL}台までです。"
        return 0
    return int(text)


def _destinations(check: _Checker, raw: Mapping[str, Any]) -> list[Destination]:
    items = _items(raw, "destinations")
    if not items:
        check.errors["destinations"] = "UTM送付先を1件以上入力してください。"
        return []
    if len(items) > MAX_UNITS_TOTAL:
        check.errors["destinations"] = f"UTM送付先は{MAX_UNITS_TOTAL}件までです。"
        return []
    result = []
    for i, item in enumerate(items):
        p = f"destinations.{i}"
        last, first = _text(item, "last_name"), _text(item, "first_name")
        check.name(p, last, first)
        result.append(
            Destination(
                destination_id=f"D{i + 1}",
                company_name=check.required(f"{p}.company_name", _text(item, "company_name"), "会社名"),
                last_name=last,
                first_name=first,
                department=check.optional(f"{p}.department", _text(item, "department"), "部署名"),
                postal_code=check.postal_code(f"{p}.postal_code", _text(item, "postal_code")),
                prefecture=check.prefecture(f"{p}.prefecture", _text(item, "prefecture")),
                address=check.required(
                    f"{p}.address", _text(item, "address"), "住所", max_length=MAX_ADDRESS
                ),
                phone=check.phone(f"{p}.phone", _text(item, "phone"), "電話番号", required=True),
                units=_units(check, f"{p}.units", item),
            )
        )
    total = sum(d.units for d in result)
    if total > MAX_UNITS_TOTAL:
        check.errors["destinations"] = f"台数は合計{MAX_UNITS_TOTAL}台までです（現在{total}台）。"
    return result


def _users(check: _Checker, raw: Mapping[str, Any]) -> list[User]:
    items = _items(raw, "login_users")
    if not items:
        check.errors["login_users"] = "ログインユーザを1名以上入力してください。"
        return []
    if len(items) > MAX_LOGIN_USERS:
        check.errors["login_users"] = f"ログインユーザは{MAX_LOGIN_USERS}名までです。"
        return []
    result = []
    emails: dict[str, int] = {}
    for i, item in enumerate(items):
        p = f"login_users.{i}"
        last, first = _text(item, "last_name"), _text(item, "first_name")
        check.name(p, last, first)
        email = check.email_pair(p, _text(item, "email"), _text(item, "email_confirmation"))
        if email and f"{p}.email" not in check.errors:
            if email.lower() in emails:
                check.errors[f"{p}.email"] = "同じメールアドレスのユーザが既に入力されています。"
            emails.setdefault(email.lower(), i)
        mobile = check.phone(f"{p}.mobile", _text(item, "mobile"), "携帯番号", required=False)
        result.append(User(last_name=last, first_name=first, email=email, mobile=mobile))
    return result


def _answers(
    check: _Checker, raw: Mapping[str, Any], questions: tuple[Question, ...] | list[Question]
) -> list[Answer]:
    given = {q.question_id: _text(raw, q.question_id) for q in questions}
    result = []
    for question in questions:
        path = f"answers.{question.question_id}"
        value = given[question.question_id]
        condition = question.required_when
        required = question.required or (
            condition is not None and given.get(condition.question_id) == condition.answer
        )
        if not value:
            if required:
                check.errors[path] = (
                    "選択してください。" if question.kind == "choice" else "この項目を入力してください。"
                )
        elif question.kind == "choice" and value not in question.options:
            check.errors[path] = "選択肢から選んでください。"
        elif len(value) > MAX_ANSWER:
            check.errors[path] = f"{MAX_ANSWER}文字以内で入力してください。"
        result.append(Answer(question_id=question.question_id, question=question.text, answer=value))
    return result


@dataclass(frozen=True, slots=True)
class Page:
    """A page of applications for the operator."""

    items: list[Application] = field(default_factory=list)
    total: int = 0
