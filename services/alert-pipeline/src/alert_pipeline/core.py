"""The compiled core (``utm_core``): one Engine per rules text and formats text, built once.

The core decodes raw records of every vendor format by the field maps of ``formats.toml`` and
classifies them by the rules of ``rules.toml``; ``Engine.process`` does a whole batch of the ingest
without running Python per record. Both data files ship with this package.
"""

from functools import cache, lru_cache
from importlib import resources

import utm_core


@cache
def packaged_rules() -> str:
    """The text of the rules file shipped with the package."""
    return resources.files("alert_pipeline").joinpath("rules.toml").read_text("utf-8")


@cache
def packaged_formats() -> str:
    """The text of the vendor field maps shipped with the package."""
    return resources.files("alert_pipeline").joinpath("formats.toml").read_text("utf-8")


@lru_cache(maxsize=16)
def engine(rules: str | None = None, formats: str | None = None) -> utm_core.Engine:
    """The Engine of a rules text and a formats text (default: the packaged files).

    ValueError when either is invalid.
    """
    return utm_core.Engine(
        packaged_rules() if rules is None else rules, packaged_formats() if formats is None else formats
    )
