"""Every template renders the guide's words, in Japan time, and a secret never reaches the stored copy."""

import pytest
from notifier_factories import DETECTED_AT, alert, confirmation, provisioned, reissued, sms_code

from notifier import messages
from notifier.rendering import TemplateError, format_jst, render_mail, severity_stars
from shared.events import NotificationRequested

CONTACT_DESK = ("電話：0120-049-318 (平日9:00-18:00)", "メール：otasuketai@osaka.cci.or.jp")


def test_confirmation_mail_has_the_exact_subject_link_and_jst_deadline() -> None:
    event = confirmation()
    mail = messages.confirmation_mail(event)
    assert mail.subject == "お申込みのご案内(申請番号:AAP-7K2M9QXD)"
    assert mail.body.startswith(
        "ご担当者様\n\nこの度は弊社サービスにお申込みいただき誠にありがとうございます。\n"
        "下記URLにアクセスいただくことでお申込みが完了となります。\n\n"
        "URL : https://portal.example.jp/signup/confirm/3f1c0a\n"
    )
    assert "2026/11/27 00:30（日本時間）" in mail.body  # 15:30 UTC is the next day 00:30 in Japan
    assert all(line in mail.body for line in CONTACT_DESK)
    assert mail.recipient == event.email
    assert not mail.has_secret


def test_provisioned_mail_shows_the_password_only_in_what_is_sent() -> None:
    mail = messages.provisioned_mail(provisioned(), "Tmp#pw-83kd")
    assert mail.subject == "仮登録完了のお知らせ"
    assert mail.body.startswith(
        "ご担当者様\n\nこの度は、弊社サービスにお申込みいただきまして、誠にありがとうございます。"
    )
    for expected in (
        "サービスポータルURL : https://console.example.jp/",
        "ユーザID : u7k2m9qxd4ab",
        "仮パスワード : Tmp#pw-83kd",
        "2026/12/09 12:00（日本時間）",
        "「パスワードをお忘れの方・パスワードの再発行はこちら」",
        "1. パスワード変更",
        "2. ユーザID設定",
        "3. 2段階認証設定",
        *CONTACT_DESK,
    ):
        assert expected in mail.body
    assert (
        mail.body.index("パスワード変更") < mail.body.index("ユーザID設定") < mail.body.index("2段階認証設定")
    )
    assert "Tmp#pw-83kd" not in mail.stored_body
    assert "仮パスワード : ********" in mail.stored_body
    assert mail.has_secret


def test_reissue_mail_carries_the_new_password_but_not_in_the_stored_copy() -> None:
    mail = messages.reissued_mail(reissued(), "Re#issued-55x")
    assert mail.subject == "パスワード再発行のお知らせ"
    assert "仮パスワード : Re#issued-55x" in mail.body
    assert "2026/12/09 12:00（日本時間）" in mail.body
    assert "Re#issued-55x" not in mail.stored_body


def test_reissue_mail_says_the_current_password_still_works_and_the_code_is_asked() -> None:
    body = messages.reissued_mail(reissued(), "Re#issued-55x").body
    assert "これまでのパスワードも引き続きご利用いただけます。" in body
    assert "認証コードの入力が必要です" in body
    assert "使用できなくなりました" not in body


def test_user_id_confirmation_mail_carries_the_code_only_in_what_is_sent() -> None:
    event = NotificationRequested(
        channel="email",
        template="login_id_verification",
        recipient="hanako@example.com",
        context={"name": "日電 花子", "new_login_id": "hanako@example.com", "minutes": 30},
    )
    mail = messages.requested_message(event, {"code": "482913"})
    assert mail.subject == "ユーザID設定の確認コードのお知らせ"
    assert mail.body.startswith("日電 花子 様\n\nセキュリティサービスポータルで、このメールアドレスを")
    for expected in (
        "新しいユーザID : hanako@example.com",
        "確認コード : 482913",
        "確認コードの有効期限は本メール送信から30分間です。",
        "確認コードを入力しない限りユーザIDは設定されません",
        *CONTACT_DESK,
    ):
        assert expected in mail.body
    assert "482913" not in mail.stored_body
    assert "確認コード : ********" in mail.stored_body
    assert mail.has_secret


def test_sealed_values_of_a_request_never_reach_the_rendered_context() -> None:
    event = NotificationRequested(
        channel="email",
        template="login_id_verification",
        recipient="hanako@example.com",
        context={"name": "花子", "new_login_id": "h@example.com", "minutes": 30, "sealed_code": "gAAAA-x"},
    )
    with pytest.raises(TemplateError, match="code"):
        messages.requested_message(event)  # the sealed value is not a stand-in for the opened one
    assert "gAAAA-x" not in messages.requested_message(event, {"code": "111111"}).body


def test_sms_code_text_is_the_one_line_of_the_spec() -> None:
    message = messages.sms_code_message(sms_code(), "123456")
    assert message.channel == "sms"
    assert message.body == "セキュリティサービスポータルの認証コード：123456（5分間有効）"
    assert "123456" not in message.stored_body


@pytest.mark.parametrize(
    ("severity", "category", "subject"),
    [
        (2, "Webガード", "脅威検出通知(Webガード) 重要度:★★☆(中)"),
        (3, "アンチウイルス", "脅威検出通知(アンチウイルス) 重要度:★★★(高)"),
        (1, "不正侵入防御", "脅威検出通知(不正侵入防御) 重要度:★☆☆(低)"),
    ],
)
def test_alert_subject_names_category_and_stars(severity: int, category: str, subject: str) -> None:
    mail = messages.alert_mail(
        alert(severity=severity, category=category),
        "u@example.com",
        portal_url="https://p/",
        window_minutes=10,
    )
    assert mail.subject == subject


def test_alert_body_in_the_guides_order_with_jst_time_and_link() -> None:
    event = alert()
    mail = messages.alert_mail(
        event, "u@example.com", portal_url="https://portal.example.jp/", window_minutes=10
    )
    body = mail.body
    assert body.startswith("UTMが有害サイトへのアクセスを検知したため通信をブロックしました。\n\n説明:\n")
    assert body.index("説明:") < body.index("対処:") < body.index("アラートID")
    for expected in (
        f"アラートID : {event.alert_id}",
        "UTM : 本社 UTM-1 (MACアドレス: 00:09:0F:AA:BB:CC)",
        "検出日時 : 2026/11/25 12:04",
        "送信元 : 192.168.1.10",
        "宛先 : http://malware.example/",
        f"https://portal.example.jp/alerts/{event.alert_id}",
        *CONTACT_DESK,
    ):
        assert expected in body


def test_follow_up_reports_the_count() -> None:
    latest = alert()
    mail = messages.alert_follow_up_mail(
        latest,
        "u@example.com",
        group_id="g1",
        count=7,
        first_alert_id="ALT-FIRST",
        first_notified_at=DETECTED_AT,
        portal_url="https://p",
        window_minutes=10,
    )
    assert mail.subject == "【続報】脅威検出通知(Webガード) 重要度:★★☆(中) 同一の脅威 7件"
    assert mail.body.startswith("同一の脅威が 7 件検出されました。")
    assert "最初のアラートID : ALT-FIRST" in mail.body
    assert mail.source_key == "alert-group:g1"


@pytest.mark.parametrize("audience", ["desk", "user"])
def test_inquiry_received_for_desk_and_user(audience: str) -> None:
    event = NotificationRequested(
        channel="email",
        template="inquiry_received",
        recipient="desk@example.com",
        context={
            "audience": audience,
            "inquiry_id": "INQ-1234",
            "name": "日電 太郎",
            "email": "taro@example.com",
            "company_name": "日本電気株式会社",
            "mac_address": "00:09:0F:AA:BB:CC",
            "message": "アラートの意味を教えてください。",
        },
    )
    mail = messages.requested_message(event)
    assert "受付番号 : INQ-1234" in mail.body
    assert "UTMのMACアドレス : 00:09:0F:AA:BB:CC" in mail.body
    assert "アラートID" not in mail.body  # optional and not given
    assert "アラートの意味を教えてください。" in mail.body
    if audience == "desk":
        assert mail.subject == "【お問い合わせ受付】日本電気株式会社 日電 太郎 様(受付番号:INQ-1234)"
    else:
        assert mail.subject == "お問い合わせを受け付けました(受付番号:INQ-1234)"
        assert mail.body.startswith("日電 太郎 様")


def test_unknown_template_or_missing_value_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="unknown"):
        render_mail("no_such_template", {})
    with pytest.raises(TemplateError, match="application_number"):
        render_mail("application_confirmation", {"confirmation_url": "x"})
    with pytest.raises(TemplateError):
        render_mail("_footer", {})  # partials are not templates of their own


def test_jst_and_stars_helpers() -> None:
    assert format_jst(DETECTED_AT) == "2026/11/25 12:04"
    assert severity_stars(3) == "★★★(高)"
    with pytest.raises(TemplateError):
        severity_stars(4)


def test_another_deployment_shows_its_own_desk_and_names_in_every_mail() -> None:
    from notifier.rendering import set_brand
    from shared.settings import BrandSettings

    set_brand(
        BrandSettings(
            service_name="あんしんネット見守り",
            operator_name="株式会社サンプル通信",
            desk_email="help@anshin.example",
            desk_phone="03-1234-5678",
            desk_hours="毎日 8:00-20:00",
        )
    )
    try:
        mail = messages.alert_mail(alert(), "u@example.com", portal_url="https://p", window_minutes=10)
        for expected in (
            "電話：03-1234-5678 (毎日 8:00-20:00)",
            "メール：help@anshin.example",
            "あんしんネット見守り",
            "株式会社サンプル通信",
        ):
            assert expected in mail.body
        assert "otasuketai@osaka.cci.or.jp" not in mail.body
        assert "0120-049-318" not in mail.body
    finally:
        set_brand(BrandSettings())


def test_an_important_notice_is_one_delivery_per_notice_and_user() -> None:
    from datetime import UTC, datetime

    from shared.events import NoticePublished

    event = NoticePublished(
        notice_id="N-ABCDEFGH",
        kind="重要",
        title="脆弱性への緊急対応",
        body="UTMのファームウェアを更新しました。",
        published_from=datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
        notice_url="https://p/notices/N-ABCDEFGH",
    )
    again = event.model_copy(
        update={"event_id": NoticePublished(**event.model_dump(exclude={"event_id"})).event_id}
    )
    first = messages.notice_mail(event, company_id="C-1", name="日電 太郎", recipient="taro@example.com")
    second = messages.notice_mail(again, company_id="C-1", name="日電 太郎", recipient="Taro@example.com ")
    assert first.subject == "【重要なお知らせ】脆弱性への緊急対応"
    assert "掲載日時 : 2026/12/01 09:00" in first.body
    assert "https://p/notices/N-ABCDEFGH" in first.body
    assert first.delivery_id == second.delivery_id
    other = messages.notice_mail(event, company_id="C-1", name="日電 花子", recipient="hanako@example.com")
    assert other.delivery_id != first.delivery_id


def test_a_digest_lists_every_alert_with_its_count_and_link() -> None:
    from notifier.grouping import AlertGroup

    def group(signature: str, severity: int, count: int) -> AlertGroup:
        first = alert(signature=signature, severity=severity)
        return AlertGroup(
            group_id=f"g-{signature}", key=signature, first=first, opened_at=DETECTED_AT,
            window_ends_at=DETECTED_AT, repeat_count=count, latest=None,
        )  # fmt: skip

    groups = [group("a", 2, 3), group("b", 3, 5)]
    mail = messages.alert_digest_mail(groups, "u@example.com", portal_url="https://p/", window_minutes=10)
    assert mail.subject == "【続報まとめ】脅威検出通知 2種類の脅威が計8件 再検出されました"
    body = mail.body
    assert body.index("重要度:★★★(高) 同一の脅威 5件") < body.index("重要度:★★☆(中) 同一の脅威 3件")
    assert f"https://p/alerts/{groups[0].first.alert_id}" in body
    assert "https://p/alerts?min_severity=2" in body
    again = messages.alert_digest_mail(
        list(reversed(groups)), "u@example.com", portal_url="https://p/", window_minutes=10
    )
    assert again.delivery_id == mail.delivery_id


def test_the_first_mail_of_a_serious_alert_is_sent_before_a_medium_one_and_follow_ups_last() -> None:
    def first(severity: int) -> int:
        mail = messages.alert_mail(
            alert(severity=severity), "u@example.com", portal_url="https://p", window_minutes=10
        )
        return mail.priority

    follow_up = messages.alert_follow_up_mail(
        alert(), "u@example.com", group_id="G-1", count=3, first_alert_id="ALT-1",
        first_notified_at=DETECTED_AT, portal_url="https://p", window_minutes=10,
    )  # fmt: skip
    assert first(3) < first(2) < follow_up.priority
