"""Jinja2 environments, one per locale (each with its translations installed once, so a
render never swaps catalogues under another request), and the formatting filters."""

from __future__ import annotations

import gettext
import hashlib
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, select_autoescape

from moorage.portal.i18n import LOCALES

TEMPLATES_DIR = Path(__file__).parent / "templates"
_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def filesize(value: int | float | None, locale: str = "en") -> str:
    """Bytes for people: ``1.2 MB`` (decimal units, as docker and Harbor show sizes)."""
    if value is None:
        return "—"
    size = float(value)
    unit = 0
    while abs(size) >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    number = format_decimal(round(size, 1) if unit else int(size), format="#,##0.#", locale=locale)
    return f"{number} {_UNITS[unit]}"


def datetime_format(value: datetime | str | None, locale: str = "en") -> str:
    """A timestamp in the locale's medium format, in UTC."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value, "medium", tzinfo=UTC, locale=locale) + " UTC"


def iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def short_digest(value: str | None, length: int = 12) -> str:
    if not value:
        return ""
    algorithm, _, hexpart = value.partition(":")
    return f"{algorithm}:{hexpart[:length]}" if hexpart else value[:length]


def dom_id(*parts: object) -> str:
    """A stable element id derived from what the element shows (unique per distinct content)."""
    return "i" + hashlib.sha1("\0".join(str(p) for p in parts).encode()).hexdigest()[:12]


def number(value: int | float | None, locale: str = "en") -> str:
    return "—" if value is None else format_decimal(value, locale=locale)


class Renderer:
    """Templates rendered with the locale's catalogue; autoescaping is always on."""

    def __init__(self, translations: dict[str, gettext.NullTranslations],
                 templates_dir: Path = TEMPLATES_DIR) -> None:
        self.translations = translations
        loader = FileSystemLoader(str(templates_dir))
        self.environments: dict[str, Environment] = {}
        for locale in LOCALES:
            env = Environment(loader=loader, autoescape=select_autoescape(default=True, default_for_string=True),
                              extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
            env.install_gettext_translations(translations[locale], newstyle=True)  # type: ignore[attr-defined]
            env.filters.update(
                filesize=partial(filesize, locale=locale), datetime=partial(datetime_format, locale=locale),
                iso=iso, short_digest=short_digest, dom_id=dom_id, number=partial(number, locale=locale),
            )
            env.globals.update(LOCALES=LOCALES)
            self.environments[locale] = env

    def render(self, locale: str, template: str, context: dict[str, Any]) -> str:
        return self.environments[locale].get_template(template).render(context)
