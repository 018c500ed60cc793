"""Reading the mails the test SMTP server (aiosmtpd's Mailbox handler) wrote into its Maildir.

mail = wait_for_mail(maildir, to="user@example.com", subject_contains="仮登録完了")
mail.subject   # decoded (RFC 2047) subject
mail.text      # decoded plain-text body
"""

import os
import re
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path


class Mail(EmailMessage):
    """A parsed mail with its decoded subject and text body at hand."""

    @property
    def subject(self) -> str:
        return str(self.get("Subject", ""))

    @property
    def text(self) -> str:
        part = self.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content())

    @property
    def recipients(self) -> list[str]:
        """Addresses of To/Cc and the SMTP envelope (X-RcptTo, added by aiosmtpd), lower-cased."""
        headers = [str(value) for name in ("To", "Cc", "X-RcptTo") for value in self.get_all(name, [])]
        return [address.lower() for _, address in getaddresses(headers) if address]

    def value(self, label: str) -> str:
        """What follows ``<label> : `` in the text, up to a space (the text in the error when missing)."""
        found = re.search(rf"{re.escape(label)} : (\S+)", self.text)
        assert found is not None, f"no {label} in:\n{self.text}"
        return found.group(1)


def _maildir(maildir: str | Path | None) -> Path:
    return Path(maildir or os.environ["MAILDIR"])


def read_all(maildir: str | Path | None = None) -> list[Mail]:
    """Every mail in the Maildir (new/ and cur/), oldest first; ``None`` reads $MAILDIR."""
    root = _maildir(maildir)
    files = [path for sub in ("new", "cur") if (root / sub).is_dir() for path in (root / sub).iterdir()]
    mails: list[tuple[float, str, Mail]] = []
    parser = BytesParser(_class=Mail, policy=policy.default)
    for path in files:
        try:
            raw = path.read_bytes()
            mtime = path.stat().st_mtime
        except FileNotFoundError:  # moved from new/ to cur/ meanwhile
            continue
        mail = parser.parsebytes(raw)
        assert isinstance(mail, Mail)
        mails.append((mtime, path.name, mail))
    return [mail for _, _, mail in sorted(mails, key=lambda item: (item[0], item[1]))]


def matching(
    maildir: str | Path | None = None, *, to: str | None = None, subject_contains: str | None = None
) -> list[Mail]:
    """The mails of the Maildir sent to ``to`` and whose subject contains ``subject_contains``."""
    return [
        mail
        for mail in read_all(maildir)
        if (to is None or to.lower() in mail.recipients)
        and (subject_contains is None or subject_contains in mail.subject)
    ]


def wait_for_mail(
    maildir: str | Path | None = None,
    *,
    to: str | None = None,
    subject_contains: str | None = None,
    timeout: float = 30,
) -> Mail:
    """The newest matching mail, waiting up to ``timeout`` seconds for one to arrive."""
    deadline = time.monotonic() + timeout
    while True:
        found = matching(maildir, to=to, subject_contains=subject_contains)
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            seen = [(m.recipients, m.subject) for m in read_all(maildir)[-10:]]
            raise TimeoutError(
                f"no mail to={to!r} subject~{subject_contains!r} within {timeout}s; latest: {seen}"
            )
        time.sleep(0.1)
