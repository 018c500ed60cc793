"""The downloadable PDFs, built from the HTML sources in ``gateway/manuals`` with WeasyPrint.

Each is built once per process (in a worker thread, on first request or by the start-up warm-up) and
kept in memory; the deployment's names and 相談窓口 are filled in from the brand settings.
"""

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.settings import BrandSettings

log = logging.getLogger(__name__)

SOURCES = Path(__file__).parent / "manuals"
# Raise the version and date whenever a source in gateway/manuals changes.
VERSION = "1.1"
ISSUED = "2026/11/30"


@dataclass(frozen=True, slots=True)
class Document:
    title: str
    source: str
    filename: str


DOCUMENTS = {
    "portal-manual": Document(
        "セキュリティサービスポータル利用マニュアル",
        "portal-manual.html",
        "security-service-portal-manual.pdf",
    ),
    "utm-quickstart": Document(
        "UTMクイックスタートガイド", "utm-quickstart.html", "utm-quickstart-guide.pdf"
    ),
}


def build_pdf(name: str, brand: BrandSettings) -> bytes:
    """Render document ``name`` to PDF bytes (slow: call it from a worker thread)."""
    from weasyprint import CSS, HTML  # heavy import, only where PDFs are built

    document = DOCUMENTS[name]
    env = Environment(loader=FileSystemLoader(SOURCES), autoescape=select_autoescape(["html"]))
    html = env.get_template(document.source).render(brand=brand, version=VERSION, issued=ISSUED)
    stylesheet = CSS(filename=str(SOURCES / "manual.css"))
    pdf: bytes = HTML(string=html, base_url=str(SOURCES)).write_pdf(stylesheets=[stylesheet])
    return pdf


class DocumentCache:
    """Each PDF built at most once per process, concurrent requests waiting for the same build."""

    def __init__(self, brand: BrandSettings) -> None:
        self._brand = brand
        self._built: dict[str, bytes] = {}
        self._locks = {name: asyncio.Lock() for name in DOCUMENTS}

    async def get(self, name: str) -> bytes:
        if name in self._built:
            return self._built[name]
        async with self._locks[name]:
            if name not in self._built:
                self._built[name] = await asyncio.to_thread(build_pdf, name, self._brand)
                log.info("document built", extra={"document": name, "bytes": len(self._built[name])})
        return self._built[name]

    async def warm(self, delay: float = 15.0) -> None:
        """Build every document ahead of the first download (after the start-up rush); never raises."""
        await asyncio.sleep(delay)
        for name in DOCUMENTS:
            try:
                await self.get(name)
            except Exception:
                log.exception("document could not be built", extra={"document": name})
