"""Templates show no hard-coded text: every visible string, and every attribute a person
reads (title, placeholder, aria-label, alt, data-confirm), goes through gettext.  What is
left after removing Jinja expressions, tags and code samples must hold no words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).parents[3] / "src" / "moorage" / "portal" / "templates"
# Words that are the same in every language: the product's name and protocol names.
ALLOWED = {"Moorage", "UTC", "API", "OCI", "URL", "ID", "SHA256", "JSON", "docker", "podman", "CVE"}
READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "data-confirm", "label")


def visible_text(source: str) -> str:
    text = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    text = re.sub(r"\{%-?\s*(trans|pluralize)\b.*?endtrans\s*-?%\}", " ", text, flags=re.S)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text, flags=re.S)
    text = re.sub(r"<(script|style|code|pre|kbd|samp)\b.*?</\1>", " ", text, flags=re.S)
    readable = " ".join(value for name, value in re.findall(
        r'\s(' + "|".join(READ_ATTRIBUTES) + r')="([^"]*)"', text))
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"&[a-z]+;|&#\d+;", " ", text)
    return text + " " + readable


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_hard_coded_words(path: Path) -> None:
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z'-]+", visible_text(path.read_text())) if w not in ALLOWED]
    assert not words, f"{path.name}: text outside gettext: {words[:20]}"
