"""Append translations to a portal .po file: python scripts/po_append.py FILE.po DICT.py
(DICT.py defines T = {msgid: translation}; msgids already in FILE are skipped)."""

import runpy
import sys

from babel.messages.pofile import read_po


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> None:
    path, source = sys.argv[1], sys.argv[2]
    table = runpy.run_path(source)["T"]
    with open(path, "rb") as fh:
        existing = {m.id for m in read_po(fh) if m.id}
    with open(path, "a", encoding="utf-8") as out:
        for msgid, text in table.items():
            if msgid not in existing:
                out.write(f"msgid {quote(msgid)}\nmsgstr {quote(text)}\n\n")


if __name__ == "__main__":
    main()
