"""Harbor ``/api/v2.0`` list-query conventions: the ``q`` language, ``sort``, paging and paging headers.

Owns parsing (``parse_q``, ``parse_sort``, ``parse_page``), the response headers of a list
(``paging_headers``: ``X-Total-Count`` + ``Link``) and in-memory evaluation of a condition
(``matches``).  Pure Python: callers translate ``Condition`` into SQL themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode

from moorage.core.errors import MoorageError

Kind = Literal["exact", "fuzzy", "range", "or", "and"]
_CLOSERS = {"[": "]", "{": "}", "(": ")"}
_LIST_KINDS: dict[str, Kind] = {"{": "or", "(": "and"}


@dataclass(frozen=True)
class Condition:
    """One ``q`` item. ``value`` is set for exact/fuzzy, ``values`` for or/and, ``low``/``high`` for range."""

    kind: Kind
    value: str | None = None
    values: tuple[str, ...] = field(default=())
    low: str | None = None
    high: str | None = None


@dataclass(frozen=True)
class Page:
    """A validated page request; ``offset``/``limit`` are ready for SQL."""

    page: int
    page_size: int
    offset: int
    limit: int


def _bad(message: str) -> MoorageError:
    return MoorageError(message, code="BAD_REQUEST")


def _unquote(value: str) -> str:
    """Strip one pair of enclosing ``"`` or ``'`` (Harbor allows quoted strings in q values)."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _split_items(raw: str) -> list[str]:
    """Split on commas that are not inside ``[]``, ``{}`` or ``()``; reject unbalanced brackets."""
    items: list[str] = []
    current: list[str] = []
    expected: str | None = None  # the closer we are waiting for, if inside brackets
    for ch in raw:
        if ch in _CLOSERS:
            if expected is not None:
                raise _bad(f"invalid query item {''.join(current) + ch!r}: nested brackets are not allowed")
            expected = _CLOSERS[ch]
        elif ch in _CLOSERS.values():
            if ch != expected:
                raise _bad(f"invalid query item {''.join(current) + ch!r}: unbalanced brackets")
            expected = None
        elif ch == "," and expected is None:
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    if expected is not None:
        raise _bad(f"invalid query item {''.join(current)!r}: unbalanced brackets")
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _parse_value(item: str, value: str) -> Condition:
    opener = value[:1]
    if opener in _CLOSERS or any(ch in value for ch in "[]{}()"):
        if opener not in _CLOSERS or value[-1] != _CLOSERS[opener]:
            raise _bad(f"invalid query item {item!r}: brackets must enclose the whole value")
        inner = value[1:-1].strip()
        if opener == "[":
            if "~" not in inner:
                raise _bad(f"invalid query item {item!r}: range must look like [min~max]")
            low, high = (_unquote(part) or None for part in inner.split("~", 1))
            if low is None and high is None:
                raise _bad(f"invalid query item {item!r}: range needs at least one bound")
            return Condition("range", low=low, high=high)
        values = tuple(_unquote(v) for v in inner.split())
        if not values:
            raise _bad(f"invalid query item {item!r}: empty value list")
        return Condition(_LIST_KINDS[opener], values=values)
    if value.startswith("~"):
        return Condition("fuzzy", value=_unquote(value[1:]))
    return Condition("exact", value=_unquote(value))


def parse_q(raw: str | None) -> dict[str, Condition]:
    """Parse Harbor's ``q`` (``k=v,k=~v,k=[a~b],k={a b},k=(a b)``; already URL-decoded) into key -> Condition."""
    conditions: dict[str, Condition] = {}
    if raw is None or not raw.strip():
        return conditions
    for item in _split_items(raw):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise _bad(f"invalid query item {item!r}: expected key=value")
        if not key:
            raise _bad(f"invalid query item {item!r}: empty key")
        if key in conditions:
            raise _bad(f"invalid query item {item!r}: duplicate key {key!r}")
        conditions[key] = _parse_value(item, value)
    return conditions


def parse_sort(raw: str | None, allowed: Mapping[str, str]) -> list[tuple[str, bool]]:
    """Parse ``sort=f1,-f2`` into ``(column, descending)`` pairs, mapping API field names through ``allowed``."""
    result: list[tuple[str, bool]] = []
    for part in (raw or "").split(","):
        name = part.strip()
        if not name:
            continue
        descending = name.startswith("-")
        name = name[1:].strip() if descending else name
        if name not in allowed:
            raise _bad(f"invalid sort field {name!r}: allowed fields are {', '.join(sorted(allowed))}")
        result.append((allowed[name], descending))
    return result


def _positive_int(name: str, raw: str | int | None, default: int) -> int:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    if isinstance(raw, bool):
        raise _bad(f"invalid {name} {raw!r}: must be an integer")
    try:
        number = int(raw)
    except ValueError:
        raise _bad(f"invalid {name} {raw!r}: must be an integer") from None
    if number < 1:
        raise _bad(f"invalid {name} {raw!r}: must be at least 1")
    return number


def parse_page(
    page: str | int | None, page_size: str | int | None, default_size: int = 10, max_size: int = 100
) -> Page:
    """Validate ``page`` (default 1) and ``page_size`` (default ``default_size``, at most ``max_size``)."""
    number = _positive_int("page", page, 1)
    size = _positive_int("page_size", page_size, default_size)
    if size > max_size:
        raise _bad(f"invalid page_size {page_size!r}: must be at most {max_size}")
    return Page(page=number, page_size=size, offset=(number - 1) * size, limit=size)


def paging_headers(path: str, query: Mapping[str, str], page: Page, total: int) -> dict[str, str]:
    """``X-Total-Count`` plus Harbor's ``Link`` header (``<url>; rel="prev" , <url>; rel="next"``) when due."""
    headers = {"X-Total-Count": str(total)}
    base = {k: v for k, v in query.items() if k not in ("page", "page_size")}

    def link(number: int, rel: str) -> str:
        params = sorted({**base, "page": str(number), "page_size": str(page.page_size)}.items())
        return f'<{path}?{urlencode(params)}>; rel="{rel}"'

    links: list[str] = []
    if page.page > 1 and (page.page - 1) * page.page_size < total:
        links.append(link(page.page - 1, "prev"))
    if page.page * page.page_size < total:
        links.append(link(page.page + 1, "next"))
    if links:
        headers["Link"] = " , ".join(links)
    return headers


def _ordered(a: str, b: str) -> bool:
    """``a <= b``, numerically when both are integers, else lexically."""
    try:
        return int(a) <= int(b)
    except ValueError:
        return a <= b


def matches(condition: Condition, value: str) -> bool:
    """Evaluate ``condition`` against an in-memory string, with Harbor's semantics: fuzzy = substring,
    or = equals any item, and = equals every item (Harbor ANDs exact filters), range = inclusive bounds."""
    if condition.kind == "exact":
        return value == condition.value
    if condition.kind == "fuzzy":
        return (condition.value or "") in value
    if condition.kind == "or":
        return value in condition.values
    if condition.kind == "and":
        return all(v == value for v in condition.values)
    low_ok = condition.low is None or _ordered(condition.low, value)
    return low_ok and (condition.high is None or _ordered(value, condition.high))
