"""Server-rendered pages: the Jinja2 environment and a ``render`` helper."""

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.responses import HTMLResponse

from gateway.csrf import csrf_input, csrf_token
from shared.labels import action_label, format_jst
from shared.settings import BrandSettings

PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
STATIC_PATH = "/static"  # where the app mounts STATIC_DIR

templates = Jinja2Templates(directory=str(PACKAGE_DIR / "templates"))
templates.env.globals["csrf_input"] = csrf_input
templates.env.globals["csrf_token"] = csrf_token
templates.env.globals["brand"] = BrandSettings()
templates.env.filters["jst"] = format_jst
templates.env.filters["action_label"] = action_label


@pass_context
def static_url(context: Context, path: str) -> str:
    """The address of a static file: Starlette's ``url_for`` would look through every route first."""
    request = context.get("request")
    root = request.scope.get("root_path", "") if request is not None else ""
    return f"{root}{STATIC_PATH}/{quote(path)}"


templates.env.globals["static"] = static_url


def set_brand(brand: BrandSettings) -> None:
    """What the pages show of the deployment: service name, 相談窓口, operator."""
    templates.env.globals["brand"] = brand


def render(request: Request, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render template ``name``; the logged-in user (if any) is available as ``user``."""
    context.setdefault("user", getattr(request.state, "portal_user", None))
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def error_page(request: Request, *, status_code: int, title: str, message: str) -> HTMLResponse:
    """A plain page that explains what went wrong in Japanese."""
    return render(request, "error.html", status_code=status_code, title=title, message=message)
