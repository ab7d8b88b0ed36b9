"""Every message the portal shows, extracted from its templates and Python sources (the
same extraction a translator runs), and which of them a locale's catalogue lacks.

``python -m moorage.portal.messages zh_CN`` prints the missing ones as PO entries."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.extract import extract_from_file

from moorage.portal.i18n import load_catalog

PORTAL_DIR = Path(__file__).parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}


def extracted() -> Iterator[tuple[str, str | tuple[str, ...]]]:
    """(file:line, msgid) of every message in the portal's templates and Python modules."""
    for path in sorted((PORTAL_DIR / "templates").rglob("*.html")):
        for lineno, message, _comments, _context in extract_from_file(
                "jinja2.ext:babel_extract", str(path), keywords=KEYWORDS,
                options={"extensions": "jinja2.ext.i18n", "trimmed": "true"}):
            yield f"{path.relative_to(PORTAL_DIR)}:{lineno}", message
    for path in sorted(PORTAL_DIR.rglob("*.py")):
        for lineno, message, _comments, _context in extract_from_file("python", str(path), keywords=KEYWORDS):
            yield f"{path.relative_to(PORTAL_DIR)}:{lineno}", message


def missing(locale: str) -> list[tuple[str, str | tuple[str, ...]]]:
    """The extracted messages the locale's catalogue does not translate."""
    catalog = load_catalog(locale)
    out = []
    seen: set[str] = set()
    for where, message in extracted():
        msgid = message[0] if isinstance(message, tuple) else message
        if not msgid or msgid in seen:
            continue
        seen.add(msgid)
        found = catalog.get(msgid)
        if found is None or not found.string or (isinstance(found.string, tuple) and not all(found.string)):
            out.append((where, message))
    return out


def main() -> None:
    locale = sys.argv[1] if len(sys.argv) > 1 else "zh_CN"
    for where, message in missing(locale):
        print(f"#: {where}")
        if isinstance(message, tuple):
            print(f"msgid {_quote(message[0])}\nmsgid_plural {_quote(message[1])}\nmsgstr[0] \"\"\n")
        else:
            print(f"msgid {_quote(message)}\nmsgstr \"\"\n")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


if __name__ == "__main__":
    main()
