"""Rendering of every mail and SMS from the Jinja2 text templates in ``notifier/templates``.

A template ``<name>`` is ``<name>.body.txt`` plus, for mail, ``<name>.subject.txt``. Rendering is pure:
no I/O beyond reading the templates, so it is tested without any server.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError

from shared.labels import JST, SEVERITY_STARS, severity_label
from shared.labels import format_jst as jst_minutes_format
from shared.settings import BrandSettings

TEMPLATES_DIR = Path(__file__).parent / "templates"


class TemplateError(ValueError):
    """A message could not be rendered: unknown template or a missing value."""


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """Subject and plain-text body of one mail."""

    subject: str
    body: str


def to_jst(value: datetime) -> datetime:
    """``value`` in Japan time (a naive value is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(JST)


def format_jst(value: datetime | str) -> str:
    """``YYYY/MM/DD HH:MM`` in Japan time, the one format of the portal and every mail."""
    return jst_minutes_format(value)


def format_jst_minutes(value: datetime) -> str:
    """``YYYY/MM/DD HH:MM`` in Japan time, for deadlines."""
    return to_jst(value).strftime("%Y/%m/%d %H:%M")


def severity_stars(severity: int) -> str:
    """``★★☆(中)`` for 2: filled stars for the level, then its name."""
    if severity not in SEVERITY_STARS:
        raise TemplateError(f"severity must be 1, 2 or 3, not {severity!r}")
    return severity_label(severity)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text mail: HTML escaping would corrupt URLs and names
        keep_trailing_newline=False,
    )
    env.filters["jst"] = format_jst
    env.filters["jst_minutes"] = format_jst_minutes
    env.filters["stars"] = severity_stars
    env.globals["brand"] = BrandSettings()
    return env


def set_brand(brand: BrandSettings) -> None:
    """What every mail shows of the deployment: the 相談窓口 and the service and operator names."""
    _environment().globals["brand"] = brand


def template_exists(name: str, *, channel: str = "email") -> bool:
    """Whether ``name`` is a template of ``channel`` ('email' needs a subject too)."""
    files = [f"{name}.body.txt"] + ([f"{name}.subject.txt"] if channel == "email" else [])
    return not name.startswith("_") and all((TEMPLATES_DIR / f).is_file() for f in files)


def _render(file: str, context: dict[str, Any]) -> str:
    try:
        return _environment().get_template(file).render(**context)
    except TemplateNotFound as exc:
        raise TemplateError(f"unknown template {file!r}") from exc
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template {file!r} is broken: {exc}") from exc
    except Exception as exc:  # StrictUndefined and filters raise several kinds
        raise TemplateError(f"template {file!r} cannot be rendered: {type(exc).__name__}: {exc}") from exc


def render_mail(name: str, context: dict[str, Any]) -> RenderedMail:
    """Render the subject (one line) and body of mail template ``name``."""
    if not template_exists(name, channel="email"):
        raise TemplateError(f"unknown mail template {name!r}")
    subject = " ".join(_render(f"{name}.subject.txt", context).split())
    body = _render(f"{name}.body.txt", context).strip("\n") + "\n"
    return RenderedMail(subject=subject, body=body)


def render_sms(name: str, context: dict[str, Any]) -> str:
    """Render the single-paragraph text of SMS template ``name``."""
    if not template_exists(name, channel="sms"):
        raise TemplateError(f"unknown SMS template {name!r}")
    return _render(f"{name}.body.txt", context).strip()
