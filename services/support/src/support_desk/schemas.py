"""HTTP bodies of the support API."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class InquiryIn(BaseModel):
    """The guide's six items (§8) in its order, and an optional attachment (base64)."""

    name: str = Field(max_length=60)
    email: str = Field(max_length=254)
    company_name: str = Field(default="", max_length=120)
    mac_address: str = Field(default="", max_length=32)
    alert_id: str = Field(default="", max_length=60)
    question: str = Field(max_length=10_000)
    attachment_base64: str = Field(default="", max_length=7_200_000, description="At most 5 MB once decoded.")
    attachment_name: str = Field(default="", max_length=255)


class MessageOut(BaseModel):
    author_role: Literal["customer", "operator"]
    author_name: str
    body: str
    at: datetime


class AttachmentOut(BaseModel):
    filename: str
    content_type: str
    size: int


class InquiryOut(BaseModel):
    inquiry_id: str
    company_id: str
    company_name: str
    name: str
    email: str
    mac_address: str
    alert_id: str
    question: str
    status: Literal["open", "in_progress", "closed"]
    status_label: str
    assignee: str
    attachment: AttachmentOut | None
    messages: list[MessageOut] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class ReplyIn(BaseModel):
    body: str = Field(max_length=10_000)


class InquiryUpdate(BaseModel):
    status: Literal["open", "in_progress", "closed"] | None = None
    assignee: str | None = Field(default=None, max_length=60)


class NoticeIn(BaseModel):
    title: str = Field(min_length=1, max_length=120)
    body: str = Field(min_length=1, max_length=20_000)
    kind: Literal["重要", "メンテナンス", "お知らせ"]
    published_from: datetime
    published_until: datetime | None = None
    company_ids: list[str] = Field(default_factory=list, max_length=1000, description="Empty: every company.")


class NoticeOut(BaseModel):
    notice_id: str
    title: str
    body: str
    kind: str
    published_from: datetime
    published_until: datetime | None


class OperatorNoticeOut(NoticeOut):
    company_ids: list[str]
    mailed: bool
    updated_by: str
    updated_at: datetime


class NoticePage(BaseModel):
    items: list[NoticeOut]
    total: int
    page: int
    per_page: int


class AuditIn(BaseModel):
    action: str = Field(max_length=60)
    target: str = Field(default="", max_length=120)
    summary: str = Field(default="", max_length=300)


class AuditEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    target: str
    summary: str


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    page: int
    per_page: int
