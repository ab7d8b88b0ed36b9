"""The message catalogues: every string the portal shows has a Simplified Chinese
translation, the translations keep their placeholders, and the formatting helpers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from moorage.portal.i18n import load_catalog, load_translations, negotiate
from moorage.portal.messages import extracted, missing
from moorage.portal.rendering import datetime_format, filesize, short_digest

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def test_messages_are_extracted_from_templates_and_python() -> None:
    found = {m if isinstance(m, str) else m[0] for _where, m in extracted()}
    assert "Sign in to Moorage" in found  # a template
    assert "Invalid user name or password." in found  # view._ in a route module
    assert len(found) > 100


def test_every_message_has_a_chinese_translation() -> None:
    lacking = missing("zh_CN")
    assert not lacking, "untranslated (run python -m moorage.portal.messages zh_CN):\n" + "\n".join(
        f"{where}: {message!r}" for where, message in lacking[:50])


def test_translations_keep_their_placeholders() -> None:
    catalog = load_catalog("zh_CN")
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(PLACEHOLDER.findall(ids[0])) | (set(PLACEHOLDER.findall(ids[1])) if len(ids) > 1 else set())
        expected.discard("num")
        for text in strings:
            got = set(PLACEHOLDER.findall(text or ""))
            got.discard("num")
            if got != expected:
                wrong.append((ids[0], text))
    assert not wrong, wrong[:20]


def test_the_chinese_catalogue_translates() -> None:
    zh = load_translations()["zh_CN"]
    assert zh.gettext("Projects") == "项目"
    assert load_translations()["en"].gettext("Projects") == "Projects"


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
    ("en-US,en;q=0.9", "en"),
    ("fr-FR,zh-TW;q=0.5", "zh_CN"),
    ("fr-FR", None),
    ("en;q=0.2, zh;q=0.8", "zh_CN"),
    ("", None),
])
def test_accept_language_negotiation(header: str, expected: str | None) -> None:
    assert negotiate(header) == expected


def test_filesize_is_human() -> None:
    assert filesize(999) == "999 B"
    assert filesize(1_234_567) == "1.2 MB"
    assert filesize(None) == "—"


def test_datetime_follows_the_locale() -> None:
    moment = datetime(2026, 11, 24, 5, 30, tzinfo=UTC)
    assert "2026" in datetime_format(moment, "en") and "Nov" in datetime_format(moment, "en")
    assert "2026年11月24日" in datetime_format(moment, "zh_CN")


def test_short_digest() -> None:
    assert short_digest("sha256:" + "ab" * 32) == "sha256:abababababab"


def test_a_message_has_one_translation_across_the_area_files() -> None:
    """The area catalogues are merged (the first file wins), so two different translations of
    one msgid would show one of them in the other area's context: give such messages distinct
    msgids instead."""
    from babel.messages.pofile import read_po

    from moorage.portal.i18n import TRANSLATIONS_DIR

    seen: dict[str, dict[str, str]] = {}
    for path in sorted((TRANSLATIONS_DIR / "zh_CN" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            for message in read_po(fh):
                if message.id:
                    msgid = message.id if isinstance(message.id, str) else message.id[0]
                    seen.setdefault(msgid, {})[path.stem] = str(message.string)
    conflicts = {k: v for k, v in seen.items() if len(set(v.values())) > 1}
    assert not conflicts, conflicts
