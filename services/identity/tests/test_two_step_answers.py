"""2-step verification, answer by answer: the codes and Japanese messages the portal shows, what is
stored after each step, the authenticator setup shown again, and the operator reset's audit entry."""

from datetime import timedelta

import pyotp
import pytest

from identity import errors
from identity.context import StepResult
from identity.models import Account, Stage, TwoStep
from identity.repository import InMemoryRepository
from identity.service import IdentityService
from identity.two_step import TotpSetup
from shared.auth import Principal
from shared.events import SendSmsCode

from .conftest import NEW_PASSWORD, SEALER, FakeClock, Flow, Outbox

OPERATOR = Principal(account_id="A-op-1", company_id="operator", role="operator", name="運用 花子")
SETUP_AGAIN = "2段階認証設定画面から設定をやり直してください。"
OPERATOR_TOTP_ONLY = "運用担当者は認証アプリケーションによる2段階認証が必須です。"


def only_account(repo: InMemoryRepository) -> Account:
    (account,) = repo.accounts.values()
    return account


def sms_code(outbox: Outbox) -> tuple[str, str]:
    event = outbox.of(SendSmsCode)[-1]
    assert isinstance(event, SendSmsCode)
    return event.phone, SEALER.open(event.sealed_code)


async def test_the_authenticator_setup_is_shown_again_with_the_same_secret(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository
) -> None:
    flow = Flow(service, outbox)
    login_id = await flow.active(two_step="totp")
    with pytest.raises(errors.Conflict) as nothing_pending:
        await service.two_step.pending_totp(flow.sid)
    assert (nothing_pending.value.code, nothing_pending.value.message) == ("no_pending_totp", SETUP_AGAIN)
    setup = await service.two_step.choose(flow.sid, use=True, method="totp")
    assert isinstance(setup, TotpSetup)
    again = await service.two_step.pending_totp(flow.sid)
    assert again.secret == setup.secret
    assert again.otpauth_uri == setup.otpauth_uri
    assert again.otpauth_uri.startswith("otpauth://totp/")
    assert "user1%40example.com" in again.otpauth_uri
    assert f"secret={setup.secret}" in again.otpauth_uri
    assert again.qr_data_url.startswith("data:image/png;base64,")
    # Pending, not yet in force: the method is still unchosen and the secret sealed.
    stored = only_account(repo).two_step
    assert stored.method is None
    assert stored.pending_totp_secret.startswith("aesgcm:")
    assert login_id == "user1@example.com"
    with pytest.raises(errors.NoSession):
        await service.two_step.pending_totp("no-such-session")


async def test_confirming_the_authenticator_stores_the_method_and_spends_the_code(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="totp")
    with pytest.raises(errors.Conflict) as nothing_pending:
        await service.two_step.confirm_totp(flow.sid, "123456")
    assert (nothing_pending.value.code, nothing_pending.value.message) == ("no_pending_totp", SETUP_AGAIN)
    setup = await service.two_step.choose(flow.sid, use=True, method="totp")
    assert isinstance(setup, TotpSetup)
    with pytest.raises(errors.InvalidInput) as malformed:
        await service.two_step.confirm_totp(flow.sid, "12ab56")
    assert malformed.value.body() == {
        "code": "invalid_code",
        "message": "認証コードを半角数字6桁で入力してください。",
        "errors": {"code": "認証コードを半角数字6桁で入力してください。"},
    }
    code = pyotp.TOTP(setup.secret).at(clock.now)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(errors.InvalidInput) as bad:
        await service.two_step.confirm_totp(flow.sid, wrong)
    message = (
        "認証コードが正しくありません。"
        "認証アプリケーションに表示されている最新の認証コードを入力してください。"
    )
    assert bad.value.body() == {"code": "invalid_code", "message": message, "errors": {"code": message}}
    result = await service.two_step.confirm_totp(flow.sid, code)
    assert result.stage is Stage.ACTIVE
    stored = only_account(repo).two_step
    assert stored.method == "totp"
    assert stored.pending_totp_secret is None
    assert stored.totp_last_step == int(clock.now.timestamp()) // 30
    assert stored.totp_secret.startswith("aesgcm:")
    assert only_account(repo).updated_at == clock.now
    # The code that confirmed the setup cannot open a session afterwards.
    await flow.login("user1@example.com", NEW_PASSWORD)
    with pytest.raises(errors.InvalidInput):
        await service.two_step.verify(flow.sid, code)


async def test_choosing_a_method_answers_each_mistake_in_japanese(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="sms")
    with pytest.raises(errors.InvalidInput) as empty:
        await service.two_step.choose(flow.sid, use=True, method="sms", phone=" - ")
    assert empty.value.body() == {
        "code": "invalid_phone",
        "message": "電話番号を入力してください。",
        "errors": {"phone": "電話番号を入力してください。"},
    }
    long_message = "SMSを受信できる携帯電話番号を半角数字11桁で入力してください。"
    for phone in ("0312345678", "0901234567", "090123456789", "05012345678"):
        with pytest.raises(errors.InvalidInput) as wrong:
            await service.two_step.choose(flow.sid, use=True, method="sms", phone=phone)
        assert wrong.value.body() == {
            "code": "invalid_phone",
            "message": long_message,
            "errors": {"phone": long_message},
        }
    with pytest.raises(errors.InvalidInput) as no_method:
        await service.two_step.choose(flow.sid, use=True, method=None)
    assert no_method.value.body() == {
        "code": "invalid_method",
        "message": "2段階認証の利用方法を選択してください。",
        "errors": {"method": "2段階認証の利用方法を選択してください。"},
    }
    assert outbox.of(SendSmsCode) == []
    assert (
        await service.two_step.choose(flow.sid, use=True, method="sms", phone="080 9876 5432")
        == "080****5432"
    )
    event = outbox.of(SendSmsCode)[-1]
    assert isinstance(event, SendSmsCode)
    assert (event.phone, event.account_id) == ("08098765432", only_account(repo).account_id)
    assert outbox.events[-1][1] == "C-TEST0001"  # keyed by the company
    assert event.expires_at == service.ctx.clock() + timedelta(minutes=5)
    assert only_account(repo).two_step.method is None  # not in force before the code comes back


async def test_turning_two_step_off_is_stored_and_refused_to_operators(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="sms")
    off = await service.two_step.choose(flow.sid, use=False)
    assert isinstance(off, StepResult)
    assert flow.follow(off).stage is Stage.ACTIVE
    assert only_account(repo).two_step == TwoStep(method="none")
    assert only_account(repo).updated_at == clock.now
    account = only_account(repo)
    repo.accounts[account.account_id] = account.model_copy(update={"role": "operator"})
    for kwargs in ({"use": False}, {"use": True, "method": "sms", "phone": "09012345678"}):
        with pytest.raises(errors.InvalidInput) as refused:
            await service.two_step.choose(flow.sid, **kwargs)  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.message) == ("totp_required", OPERATOR_TOTP_ONLY)
    assert outbox.of(SendSmsCode) == []


async def test_sms_setup_answers_and_what_it_stores(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="sms")
    with pytest.raises(errors.Conflict) as no_sms:
        await service.two_step.confirm_sms_setup(flow.sid, "123456")
    assert (no_sms.value.code, no_sms.value.message) == ("no_pending_sms", SETUP_AGAIN)
    with pytest.raises(errors.Conflict) as nothing_to_resend:
        await service.two_step.resend_sms(flow.sid)
    assert nothing_to_resend.value.body() == {
        "code": "no_pending_sms",
        "message": "認証コードの送信先がありません。最初からやり直してください。",
    }
    await service.two_step.choose(flow.sid, use=True, method="sms", phone="09012345678")
    phone, code = sms_code(outbox)
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(errors.InvalidInput) as bad:
        await service.two_step.confirm_sms_setup(flow.sid, wrong)
    assert bad.value.body() == {
        "code": "sms_wrong",
        "message": "認証コードが正しくありません。",
        "errors": {"code": "認証コードが正しくありません。"},
    }
    with pytest.raises(errors.Throttled) as too_soon:
        await service.two_step.resend_sms(flow.sid)
    assert too_soon.value.body() == {
        "code": "resend_limited",
        "message": "認証コードの再送信回数の上限に達したか、間隔が短すぎます。"
        "しばらくしてからお試しください。",
    }
    clock.advance(seconds=30)
    assert await service.two_step.resend_sms(flow.sid) == "090****5678"
    assert len(outbox.of(SendSmsCode)) == 2
    _, new_code = sms_code(outbox)
    clock.advance(minutes=5)
    with pytest.raises(errors.InvalidInput) as expired:
        await service.two_step.confirm_sms_setup(flow.sid, new_code)
    assert expired.value.body() == {
        "code": "sms_expired",
        "message": "認証コードの有効期限が切れました。認証コードを再送信してください。",
        "errors": {"code": "認証コードの有効期限が切れました。認証コードを再送信してください。"},
    }
    await service.two_step.resend_sms(flow.sid)
    _, last = sms_code(outbox)
    result = await service.two_step.confirm_sms_setup(flow.sid, last)
    assert result.stage is Stage.ACTIVE
    assert only_account(repo).two_step == TwoStep(method="sms", phone=phone)
    assert only_account(repo).updated_at == clock.now


async def test_wrong_sms_codes_at_login_count_as_failed_logins(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="sms")
    await service.two_step.choose(flow.sid, use=True, method="sms", phone="09012345678")
    flow.follow(await service.two_step.confirm_sms_setup(flow.sid, sms_code(outbox)[1]))
    await flow.login("user1@example.com", NEW_PASSWORD)
    code = sms_code(outbox)[1]
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(errors.InvalidInput) as bad:
        await service.two_step.verify(flow.sid, wrong)
    assert bad.value.code == "sms_wrong"
    failures, _ = await repo.login_failures("user1@example.com")
    assert failures == 1


async def test_wrong_authenticator_codes_at_login_are_counted_and_the_fifth_ends_the_session(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="totp")
    setup = await service.two_step.choose(flow.sid, use=True, method="totp")
    assert isinstance(setup, TotpSetup)
    flow.follow(await service.two_step.confirm_totp(flow.sid, pyotp.TOTP(setup.secret).at(clock.now)))
    clock.advance(seconds=60)
    await flow.login("user1@example.com", NEW_PASSWORD)
    code = pyotp.TOTP(setup.secret).at(clock.now)
    wrong = "000000" if code != "000000" else "111111"
    message = "認証コードが正しくないか、すでに使用されています。最新の認証コードを入力してください。"
    for attempt in range(1, 5):
        with pytest.raises(errors.InvalidInput) as bad:
            await service.two_step.verify(flow.sid, wrong)
        assert bad.value.body() == {"code": "invalid_code", "message": message, "errors": {"code": message}}
        assert (await repo.login_failures("user1@example.com"))[0] == attempt
    with pytest.raises(errors.Throttled) as ended:
        await service.two_step.verify(flow.sid, wrong)
    assert (ended.value.code, ended.value.message) == ("rate_limited", errors.TOO_MANY_ATTEMPTS)
    assert (await repo.login_failures("user1@example.com"))[0] == 5
    with pytest.raises(errors.NoSession):
        await service.two_step.verify(flow.sid, code)


async def test_the_operator_reset_writes_a_complete_audit_entry(
    service: IdentityService, outbox: Outbox, repo: InMemoryRepository, clock: FakeClock
) -> None:
    flow = Flow(service, outbox)
    await flow.active(two_step="sms")
    await service.two_step.choose(flow.sid, use=True, method="sms", phone="09012345678")
    flow.follow(await service.two_step.confirm_sms_setup(flow.sid, sms_code(outbox)[1]))
    account = only_account(repo)
    with pytest.raises(errors.InvalidInput) as blank:
        await service.two_step.operator_reset(OPERATOR, account.account_id, " \n ")
    message = "本人確認の内容(リセットの理由)を入力してください。"
    assert blank.value.body() == {"code": "missing_reason", "message": message, "errors": {"reason": message}}
    with pytest.raises(errors.NotFound) as unknown:
        await service.two_step.operator_reset(OPERATOR, "A-unknown", "確認済み")
    assert (unknown.value.code, unknown.value.message) == ("not_found", "アカウントが見つかりません。")
    operator_account = account.model_copy(update={"account_id": "A-op-2", "role": "operator"})
    repo.accounts["A-op-2"] = operator_account
    with pytest.raises(errors.NotFound):
        await service.two_step.operator_reset(OPERATOR, "A-op-2", "確認済み")
    del repo.accounts["A-op-2"]
    assert repo.audit == []
    entry = await service.two_step.operator_reset(OPERATOR, account.account_id, "  電話で本人確認済み  ")
    audit_id = entry.pop("audit_id")
    assert isinstance(audit_id, str)
    assert audit_id.startswith("AUD-")
    assert len(audit_id) == 20
    assert entry == {
        "at": clock.now,
        "action": "second_factor_reset",
        "operator_id": "A-op-1",
        "operator_name": "運用 花子",
        "account_id": account.account_id,
        "company_id": "C-TEST0001",
        "previous_method": "sms",
        "reason": "電話で本人確認済み",
    }
    assert only_account(repo).two_step == TwoStep()
    assert only_account(repo).updated_at == clock.now
    with pytest.raises(errors.NoSession):
        await service.login.grant_token(flow.sid)
