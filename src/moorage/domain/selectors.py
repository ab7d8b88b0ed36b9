"""Harbor's ``doublestar`` selectors, shared by immutability and retention rules: glob patterns
over repository names (without their project) and tags, with ``matches``/``excludes``
decorations and the ``untagged`` extra."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from wcmatch import glob

from moorage.core.errors import BadRequest

KIND = "doublestar"
MATCHES, EXCLUDES = "matches", "excludes"
REPO_MATCHES, REPO_EXCLUDES = "repoMatches", "repoExcludes"
TAG_DECORATIONS = (MATCHES, EXCLUDES)
REPOSITORY_DECORATIONS = (REPO_MATCHES, REPO_EXCLUDES)
# ``*`` stops at ``/``, ``**`` crosses it, ``{a,b}`` alternatives, ``?`` and ``[...]``: doublestar's syntax.
_FLAGS = glob.GLOBSTAR | glob.BRACE | glob.DOTGLOB
MAX_PATTERN = 512


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> Any:
    return glob.compile(pattern, flags=_FLAGS)


def doublestar_match(pattern: str, value: str) -> bool:
    """Whether ``value`` matches the doublestar ``pattern``."""
    return bool(_compiled(pattern).match(value))


@dataclass(frozen=True, slots=True)
class Selector:
    """One selector; ``extras`` is Harbor's JSON string (``{"untagged":true}``)."""

    kind: str
    decoration: str
    pattern: str
    extras: str = ""
    untagged: bool = False

    def select_repository(self, name: str) -> bool:
        """Whether a repository (its name inside the project) is in scope."""
        matched = doublestar_match(self.pattern, name)
        return matched if self.decoration == REPO_MATCHES else not matched

    def select_tags(self, tags: Sequence[str]) -> bool:
        """Harbor's tag selection of an artifact: ``matches`` when any tag matches, ``excludes``
        when any tag does not; an untagged artifact only when ``untagged`` is set."""
        if not tags:
            return self.untagged
        if self.decoration == MATCHES:
            return any(doublestar_match(self.pattern, t) for t in tags)
        return any(not doublestar_match(self.pattern, t) for t in tags)

    def select_tag(self, tag: str) -> bool:
        """Whether a single tag is selected (immutability judges tags one by one)."""
        matched = doublestar_match(self.pattern, tag)
        return matched if self.decoration == MATCHES else not matched

    def describe(self) -> str:
        verb = "matching" if self.decoration in (MATCHES, REPO_MATCHES) else "excluding"
        return f"{verb} {self.pattern}" + (" (untagged included)" if self.untagged else "")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "decoration": self.decoration, "pattern": self.pattern, "extras": self.extras}


def parse_selector(raw: Any, decorations: tuple[str, ...], where: str) -> Selector:
    """Validate one selector (a mapping in Harbor's shape); BadRequest naming ``where``."""
    if not isinstance(raw, Mapping):
        raise BadRequest(f"{where}: a selector must be an object with kind, decoration and pattern")
    kind = raw.get("kind") or KIND
    if kind != KIND:
        raise BadRequest(f"{where}: unsupported selector kind {kind!r}: only {KIND!r}")
    decoration = raw.get("decoration")
    if decoration not in decorations:
        raise BadRequest(f"{where}: decoration must be one of {', '.join(decorations)}, not {decoration!r}")
    pattern = raw.get("pattern")
    if not isinstance(pattern, str) or not pattern.strip():
        raise BadRequest(f"{where}: pattern is required")
    if len(pattern) > MAX_PATTERN:
        raise BadRequest(f"{where}: pattern is longer than {MAX_PATTERN} characters")
    problem = _unbalanced(pattern)
    if problem is None:
        try:
            _compiled(pattern)
        except Exception as exc:  # wcmatch raises several kinds (e.g. the brace expansion limit)
            problem = str(exc)
    if problem is not None:
        raise BadRequest(f"{where}: invalid pattern {pattern!r}: {problem}")
    extras = raw.get("extras") or ""
    if not isinstance(extras, str):
        raise BadRequest(f"{where}: extras must be a JSON string such as '{{\"untagged\":true}}'")
    return Selector(KIND, str(decoration), pattern, extras, _untagged(extras, where))


def _unbalanced(pattern: str) -> str | None:
    """doublestar rejects an unclosed ``{`` or ``[`` (wcmatch would read it literally)."""
    depth, in_class, escaped = 0, False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return "unbalanced }"
            depth -= 1
    if in_class:
        return "unclosed ["
    return "unclosed {" if depth else None


def _untagged(extras: str, where: str) -> bool:
    if not extras.strip():
        return False
    try:
        value = orjson.loads(extras)
    except orjson.JSONDecodeError:
        raise BadRequest(f"{where}: extras is not valid JSON: {extras!r}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{where}: extras must be a JSON object")
    untagged = value.get("untagged", False)
    if not isinstance(untagged, bool):
        raise BadRequest(f"{where}: extras.untagged must be true or false")
    return untagged


def parse_tag_selectors(raw: Any, where: str) -> tuple[Selector, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest(f"{where}: at least one tag selector is required")
    return tuple(parse_selector(s, TAG_DECORATIONS, f"{where} tag_selectors[{i}]") for i, s in enumerate(raw))


def parse_scope_selectors(raw: Any, where: str) -> tuple[Selector, ...]:
    """Harbor's ``scope_selectors``: ``{"repository": [selector, ...]}`` (the only scope)."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("repository"), list) or not raw["repository"]:
        raise BadRequest(f"{where}: scope_selectors.repository needs at least one repository selector")
    unknown = sorted(set(raw) - {"repository"})
    if unknown:
        raise BadRequest(f"{where}: unsupported scope selector(s) {', '.join(unknown)}: only repository")
    return tuple(parse_selector(s, REPOSITORY_DECORATIONS, f"{where} scope_selectors.repository[{i}]")
                 for i, s in enumerate(raw["repository"]))


def selectors_from_json(raw: Any) -> tuple[Selector, ...]:
    """Stored selectors back into objects (already validated when stored)."""
    out = []
    for s in raw or []:
        extras = str(s.get("extras") or "")
        try:
            untagged = _untagged(extras, "stored selector")
        except BadRequest:
            untagged = False
        out.append(Selector(str(s.get("kind") or KIND), str(s.get("decoration")), str(s.get("pattern")),
                            extras, untagged))
    return tuple(out)


def in_scope(selectors: Sequence[Selector], repository: str) -> bool:
    """Every repository selector accepts ``repository`` (its name inside the project)."""
    return all(s.select_repository(repository) for s in selectors)


def repository_path(repository: str) -> str:
    """A full repository name without its project (``proj/a/b`` → ``a/b``), what selectors see."""
    return repository.partition("/")[2] or repository
