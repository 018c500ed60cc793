"""What several portal pages share: the 404 page, paging links, an inquiry's thread page and replies."""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from gateway.backends import Backends
from gateway.clients import support
from gateway.clients._base import BackendRefused
from gateway.session import PortalUser
from gateway.web import error_page, render

NOT_FOUND = "お探しのページは見つかりませんでした。"
# A reply in an inquiry's thread, from the customer or the desk.
ReplyText = Annotated[str, Form(max_length=10_000)]


def not_found(request: Request, title: str) -> Response:
    """The 404 page for an unknown (or another company's) item."""
    return error_page(request, status_code=404, title=title, message=NOT_FOUND)


def paging(path: str, *, page: int, total: int, per_page: int, **query: str) -> dict[str, Any]:
    """``pages`` and the previous / next page's address (None at either end)."""
    pages = max(1, -(-total // per_page))

    def url(number: int) -> str:
        return f"{path}?{urlencode({**{k: v for k, v in query.items() if v}, 'page': number})}"

    return {
        "pages": pages,
        "prev_url": url(page - 1) if page > 1 else None,
        "next_url": url(page + 1) if page < pages else None,
    }


async def thread_page(
    request: Request,
    user: PortalUser,
    backends: Backends,
    inquiry_id: str,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """An inquiry and its thread on ``template``; an unknown (or another company's) inquiry is a 404."""
    try:
        item = await support.inquiry(backends, user, inquiry_id)
    except BackendRefused:
        return not_found(request, "お問い合わせ")
    return render(request, template, status_code=status_code, inquiry=item, **context)


async def reply_in_thread(
    request: Request,
    user: PortalUser,
    backends: Backends,
    inquiry_id: str,
    body: str,
    *,
    done: str,
    template: str,
    **context: Any,
) -> Response:
    """Post a reply in an inquiry's thread (mailed to the other side): to ``done``, or the thread page
    again (``template`` with ``context``) with the reason; an unknown (or another company's) inquiry
    is a 404."""
    try:
        await support.reply(backends, user, inquiry_id, body)
    except BackendRefused as exc:
        if exc.not_found:
            return not_found(request, "お問い合わせ")
        error = exc.detail or "返信の内容を入力してください。"
        return await thread_page(
            request, user, backends, inquiry_id, template, status_code=422, error=error, **context
        )
    return RedirectResponse(done, status_code=303)
