"""Message catalogues: English is the source language; every other locale is read from
``translations/<locale>/LC_MESSAGES/*.po`` (one file per area of the portal, merged) and
compiled in memory at start-up, so no build step is needed and the ``.po`` files are the
only copy of a translation."""

from __future__ import annotations

import gettext
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES: dict[str, str] = {"en": "English", "zh_CN": "简体中文"}
DEFAULT_LOCALE = "en"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"


def load_catalog(locale: str, root: Path = TRANSLATIONS_DIR) -> Catalog:
    """All ``.po`` files of a locale merged into one catalogue (a msgid translated in two
    files keeps the first file's translation, in file-name order)."""
    merged = Catalog(locale=locale)
    for path in sorted((root / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            part = read_po(fh, locale=locale)
        for message in part:
            if message.id and message.string and message.id not in merged:
                merged[message.id] = message
    return merged


def load_translations(root: Path = TRANSLATIONS_DIR) -> dict[str, gettext.NullTranslations]:
    """One translations object per supported locale (English: the identity)."""
    out: dict[str, gettext.NullTranslations] = {DEFAULT_LOCALE: gettext.NullTranslations()}
    for locale in LOCALES:
        if locale == DEFAULT_LOCALE:
            continue
        buffer = BytesIO()
        write_mo(buffer, load_catalog(locale, root))
        buffer.seek(0)
        out[locale] = Translations(buffer)
    return out


def negotiate(accept_language: str) -> str | None:
    """The supported locale a browser's ``Accept-Language`` prefers most, or None."""
    choices: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        tag = tag.strip().lower().replace("_", "-")
        locale = "zh_CN" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if locale and weight > 0:
            choices.append((-weight, index, locale))
    return min(choices)[2] if choices else None


def supported(locale: str | None) -> str | None:
    return locale if locale in LOCALES else None
