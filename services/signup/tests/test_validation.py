"""Every rule of the wizard, with the Japanese message the applicant sees beside the field."""

from collections.abc import Callable
from typing import Any

import pytest

from signup.models import DEFAULT_QUESTIONS, PREFECTURES, Question, validate_application

Form = Callable[..., dict[str, Any]]
FormWith = Callable[[str, Any], dict[str, Any]]


def errors_of(raw: dict[str, Any], questions: tuple[Question, ...] = DEFAULT_QUESTIONS) -> dict[str, str]:
    return validate_application(raw, questions)[1]


def test_the_guides_sample_is_valid(form: Form) -> None:
    application, errors = validate_application(form(), DEFAULT_QUESTIONS)
    assert errors == {}
    assert application is not None
    assert application.company.company_name == "日本電気株式会社"
    assert application.total_units == 1
    assert [a.answer for a in application.answers] == ["非会員", "", ""]


def test_there_are_47_prefectures_from_hokkaido_to_okinawa() -> None:
    assert len(PREFECTURES) == 47
    assert len(set(PREFECTURES)) == 47
    assert (PREFECTURES[0], PREFECTURES[12], PREFECTURES[-1]) == ("北海道", "東京都", "沖縄県")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("company.company_name", "", "会社名を入力してください。"),
        ("company.company_name", "   ", "会社名を入力してください。"),
        ("company.company_name", "あ" * 101, "会社名は100文字以内で入力してください。"),
        ("company.last_name", "", "姓を入力してください。"),
        ("company.first_name", "", "名を入力してください。"),
        ("company.department", "あ" * 101, "部署名は100文字以内で入力してください。"),
        ("company.position", "あ" * 101, "役職は100文字以内で入力してください。"),
        ("company.email", "", "メールアドレスを入力してください。"),
        ("company.email", "some@", "メールアドレスの形式が正しくありません。"),
        ("company.email", "someexample.com", "メールアドレスの形式が正しくありません。"),
        ("company.email", "so me@example.com", "メールアドレスの形式が正しくありません。"),
        ("company.email_confirmation", "", "確認用メールアドレスを入力してください。"),
        ("company.email_confirmation", "other@example.com", "メールアドレスが一致しません。"),
        ("company.postal_code", "", "郵便番号を入力してください。"),
        ("company.postal_code", "211866", "郵便番号は7桁の数字で入力してください。"),
        ("company.postal_code", "21186660", "郵便番号は7桁の数字で入力してください。"),
        ("company.postal_code", "21-18666", "郵便番号は7桁の数字で入力してください。"),
        ("company.postal_code", "abc-defg", "郵便番号は7桁の数字で入力してください。"),
        ("company.prefecture", "", "都道府県を選択してください。"),
        ("company.prefecture", "東京", "都道府県を一覧から選択してください。"),
        ("company.address", "", "住所を入力してください。"),
        ("company.address", "あ" * 201, "住所は200文字以内で入力してください。"),
        ("company.phone", "", "電話番号を入力してください。"),
        ("company.phone", "012345678", "電話番号は10桁または11桁の数字で入力してください（ハイフン可）。"),
        ("company.phone", "012345678901", "電話番号は10桁または11桁の数字で入力してください（ハイフン可）。"),
        ("company.phone", "03-1234-abcd", "電話番号は10桁または11桁の数字で入力してください（ハイフン可）。"),
        ("destinations.0.company_name", "", "会社名を入力してください。"),
        ("destinations.0.last_name", "", "姓を入力してください。"),
        ("destinations.0.first_name", "", "名を入力してください。"),
        ("destinations.0.postal_code", "12345", "郵便番号は7桁の数字で入力してください。"),
        ("destinations.0.prefecture", "", "都道府県を選択してください。"),
        ("destinations.0.address", "", "住所を入力してください。"),
        ("destinations.0.phone", "", "電話番号を入力してください。"),
        ("destinations.0.units", "", "台数を入力してください。"),
        ("destinations.0.units", 0, "台数は1以上の整数で入力してください。"),
        ("destinations.0.units", "-1", "台数は1以上の整数で入力してください。"),
        ("destinations.0.units", "1.5", "台数は1以上の整数で入力してください。"),
        ("destinations.0.units", 11, "台数は合計10台までです。"),
        ("login_users.0.last_name", "", "姓を入力してください。"),
        ("login_users.0.first_name", "", "名を入力してください。"),
        ("login_users.0.email", "", "メールアドレスを入力してください。"),
        ("login_users.0.email", "user@@example.com", "メールアドレスの形式が正しくありません。"),
        ("login_users.0.email_confirmation", "x@example.com", "メールアドレスが一致しません。"),
        (
            "login_users.0.mobile",
            "090123",
            "携帯番号は10桁または11桁の数字で入力してください（ハイフン可）。",
        ),
        ("answers.chamber_member", "", "選択してください。"),
        ("answers.chamber_member", "たぶん", "選択肢から選んでください。"),
        ("answers.chamber_name", "あ" * 201, "200文字以内で入力してください。"),
    ],
)
def test_each_rule_names_the_field_in_japanese(
    form_with: FormWith, path: str, value: Any, message: str
) -> None:
    raw = form_with(path, value)
    if path.endswith(".email") and value:
        # Typed the same wrong address twice: only its format is at fault.
        section, *index, _ = path.split(".")
        holder = raw[section][int(index[0])] if index else raw[section]
        holder["email_confirmation"] = value
    assert errors_of(raw) == {path: message}


@pytest.mark.parametrize(
    ("path", "typed", "stored"),
    [
        ("company.postal_code", "211-8666", "2118666"),
        ("company.postal_code", "２１１－８６６６", "2118666"),
        ("company.phone", "010-2345-6789", "01023456789"),
        ("company.phone", "03-1234-5678", "0312345678"),
        ("company.phone", "０９０ー１２３４ー５６７８", "09012345678"),
        ("login_users.0.mobile", "090-1234-5678", "09012345678"),
        ("destinations.0.postal_code", "211-8666", "2118666"),
        ("destinations.0.phone", "0120-123-456", "0120123456"),
    ],
)
def test_hyphens_and_full_width_digits_are_tolerated_and_stored_as_digits(
    form_with: FormWith, path: str, typed: str, stored: str
) -> None:
    application, errors = validate_application(form_with(path, typed), DEFAULT_QUESTIONS)
    assert errors == {}
    assert application is not None
    section, *rest = path.split(".")
    holder: Any = getattr(application, section if section != "company" else "company")
    if rest[0].isdigit():
        holder = holder[int(rest[0])]
    assert getattr(holder, rest[-1]) == stored


def test_missing_name_reports_both_parts(form_with: FormWith) -> None:
    raw = form_with("company.last_name", "")
    raw["company"]["first_name"] = ""
    assert errors_of(raw) == {
        "company.last_name": "姓を入力してください。",
        "company.first_name": "名を入力してください。",
    }


def test_units_are_counted_over_all_destinations(form: Form) -> None:
    raw = form()
    raw["destinations"] = [dict(raw["destinations"][0], units=3) for _ in range(3)]
    assert validate_application(raw, DEFAULT_QUESTIONS)[1] == {}
    raw["destinations"].append(dict(raw["destinations"][0], units=4))
    assert errors_of(raw) == {"destinations": "台数は合計10台までです（現在13台）。"}


def test_exactly_ten_units_are_allowed(form: Form) -> None:
    raw = form()
    raw["destinations"] = [dict(raw["destinations"][0], units=5), dict(raw["destinations"][0], units="5")]
    application, errors = validate_application(raw, DEFAULT_QUESTIONS)
    assert errors == {}
    assert application is not None
    assert application.total_units == 10
    assert [d.destination_id for d in application.destinations] == ["D1", "D2"]


@pytest.mark.parametrize(
    ("destinations", "message"),
    [
        ([], "UTM送付先を1件以上入力してください。"),
        (None, "UTM送付先を1件以上入力してください。"),
        ("not a list", "UTM送付先を1件以上入力してください。"),
    ],
)
def test_at_least_one_destination(form: Form, destinations: Any, message: str) -> None:
    assert errors_of(form(destinations=destinations)) == {"destinations": message}


def test_eleven_destinations_are_refused(form: Form) -> None:
    raw = form()
    raw["destinations"] = [dict(raw["destinations"][0]) for _ in range(11)]
    assert errors_of(raw) == {"destinations": "UTM送付先は10件までです。"}


def test_one_to_three_login_users(form: Form) -> None:
    raw = form()
    user = raw["login_users"][0]
    assert errors_of(form(login_users=[])) == {"login_users": "ログインユーザを1名以上入力してください。"}
    others = [dict(user, email=f"u{i}@example.com", email_confirmation=f"u{i}@example.com") for i in range(4)]
    assert errors_of(form(login_users=others[:3])) == {}
    assert errors_of(form(login_users=others)) == {"login_users": "ログインユーザは3名までです。"}


def test_two_login_users_cannot_share_an_email(form: Form) -> None:
    raw = form()
    user = raw["login_users"][0]
    twin = dict(user, email="SOME@example.com", email_confirmation="SOME@example.com")
    assert errors_of(form(login_users=[user, twin])) == {
        "login_users.1.email": "同じメールアドレスのユーザが既に入力されています。"
    }


def test_member_number_is_required_only_for_members(form: Form) -> None:
    members = form(answers={"chamber_member": "会員", "chamber_name": "川崎商工会議所", "member_number": ""})
    assert errors_of(members) == {"answers.member_number": "この項目を入力してください。"}
    members["answers"]["member_number"] = "12345"
    application, errors = validate_application(members, DEFAULT_QUESTIONS)
    assert errors == {}
    assert application is not None
    assert application.answers[2].question == "会員の場合、会員番号を入力してください。"
    assert application.answers[2].answer == "12345"


def test_no_questions_means_no_answers(form: Form) -> None:
    application, errors = validate_application(form(answers={}), [])
    assert errors == {}
    assert application is not None
    assert application.answers == ()


def test_answers_to_unknown_questions_are_ignored(form: Form) -> None:
    raw = form(answers={"chamber_member": "非会員", "nonsense": "x"})
    application, _ = validate_application(raw, DEFAULT_QUESTIONS)
    assert application is not None
    assert [a.question_id for a in application.answers] == ["chamber_member", "chamber_name", "member_number"]


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"company": "x", "destinations": {}, "login_users": [1, 2], "answers": []},
        {"company": {"company_name": 12, "email": ["a"], "prefecture": None}},
    ],
)
def test_garbage_gives_errors_never_an_exception(raw: dict[str, Any]) -> None:
    application, errors = validate_application(raw, DEFAULT_QUESTIONS)
    assert application is None
    assert errors["company.email"] in (
        "メールアドレスを入力してください。",
        "メールアドレスの形式が正しくありません。",
    )
    assert all(isinstance(m, str) and m for m in errors.values())
