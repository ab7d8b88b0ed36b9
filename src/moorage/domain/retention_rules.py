"""Tag retention rules: Harbor's templates and their parameters, rule validation, and the
evaluation of one repository's artifacts into RETAIN / DEL decisions, with the table a run
writes to its task log.

The unit is the artifact with all its tags together.  Rules are OR-ed: an artifact is kept
if any rule keeps it, and always when one of its tags is immutable.  Untagged artifacts are
candidates only when a rule in scope selects untagged artifacts; otherwise they are left to
garbage collection.  A repository no enabled rule covers is not touched at all."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from moorage.core.errors import BadRequest
from moorage.domain.selectors import (
    REPOSITORY_DECORATIONS,
    TAG_DECORATIONS,
    Selector,
    in_scope,
    parse_scope_selectors,
    parse_tag_selectors,
    selectors_from_json,
)
from moorage.metadata.queries.policies import CandidateRow, RetentionRuleRow

ACTION = "retain"
MAX_PARAM = 2**31 - 1
RETAIN, DELETE, FAILED = "RETAIN", "DEL", "ERR"


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    unit: str | None  # COUNT or DAYS; None: no parameter
    display_text: str
    listed: bool = True  # shown by /retentions/metadatas (Harbor hides its internal templates)


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("latestPushedK", "COUNT", "the most recently pushed # artifacts"),
    Template("latestPulledN", "COUNT", "the most recently pulled # artifacts"),
    Template("nDaysSinceLastPush", "DAYS", "pushed within the last # days"),
    Template("nDaysSinceLastPull", "DAYS", "pulled within the last # days"),
    Template("always", None, "always"),
    Template("latestActiveK", "COUNT", "the most recently pushed or pulled # artifacts", listed=False),
    Template("nothing", None, "none", listed=False),
)}


def metadata() -> dict[str, Any]:
    """Harbor's RetentionMetadata: the templates and selectors rules may use."""
    return {
        "templates": [{"rule_template": t.name, "display_text": t.display_text, "action": ACTION,
                       "params": [{"type": "int", "unit": t.unit, "required": True}] if t.unit else []}
                      for t in TEMPLATES.values() if t.listed],
        "scope_selectors": [{"display_text": "Repositories", "kind": "doublestar",
                             "decorations": list(REPOSITORY_DECORATIONS)}],
        "tag_selectors": [{"display_text": "Tags", "kind": "doublestar", "decorations": list(TAG_DECORATIONS)}],
    }


def _param(template: Template, params: Mapping[str, Any], where: str) -> int:
    if template.unit is None:
        return 0
    raw = params.get(template.name)
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= MAX_PARAM:
        what = "a number of artifacts" if template.unit == "COUNT" else "a number of days"
        raise BadRequest(f"{where}: params.{template.name} must be {what} (0 to {MAX_PARAM})")
    return raw


def parse_rule(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate one rule in Harbor's shape; the stored column values."""
    action = raw.get("action") or ACTION
    if action != ACTION:
        raise BadRequest(f"{where}: action must be {ACTION!r}, not {action!r}")
    template = TEMPLATES.get(str(raw.get("template") or ""))
    if template is None:
        raise BadRequest(f"{where}: template must be one of {', '.join(TEMPLATES)}, not {raw.get('template')!r}")
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise BadRequest(f"{where}: params must be an object")
    value = _param(template, params, where)
    priority = raw.get("priority") or 0
    disabled = raw.get("disabled") or False
    if not isinstance(priority, int) or isinstance(priority, bool) or not isinstance(disabled, bool):
        raise BadRequest(f"{where}: priority must be an integer and disabled a boolean")
    tags = parse_tag_selectors(raw.get("tag_selectors"), where)
    repos = parse_scope_selectors(raw.get("scope_selectors"), where)
    return {"priority": priority, "disabled": disabled, "action": ACTION, "template": template.name,
            "params": {template.name: value} if template.unit else {},
            "tag_selectors": [s.to_json() for s in tags],
            "scope_selectors": {"repository": [s.to_json() for s in repos]}}


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    template: str
    value: int
    tag_selectors: tuple[Selector, ...]
    repository_selectors: tuple[Selector, ...]
    priority: int = 0
    disabled: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: RetentionRuleRow) -> Rule:
        template = TEMPLATES.get(row.template)
        value = int(row.params.get(row.template, 0)) if template is not None and template.unit else 0
        return cls(row.id, row.template, value, selectors_from_json(row.tag_selectors),
                   selectors_from_json(row.scope_selectors.get("repository")), row.priority, row.disabled,
                   row.params)

    def applies_to(self, path: str) -> bool:
        """Enabled, and its repository selectors take ``path`` (a repository name inside the project)."""
        return not self.disabled and in_scope(self.repository_selectors, path)

    @property
    def takes_untagged(self) -> bool:
        return all(s.untagged for s in self.tag_selectors)

    def select(self, candidates: Iterable[Candidate]) -> list[Candidate]:
        """The candidates every tag selector takes (Harbor applies them one after the other)."""
        return [c for c in candidates if all(s.select_tags(c.tags) for s in self.tag_selectors)]

    def describe(self) -> str:
        text = TEMPLATES[self.template].display_text if self.template in TEMPLATES else self.template
        text = text.replace("#", str(self.value))
        repos = " and ".join(s.describe() for s in self.repository_selectors)
        tags = " and ".join(s.describe() for s in self.tag_selectors)
        return f"rule {self.id}: retain {text}; repositories {repos}; tags {tags}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "priority": self.priority, "disabled": self.disabled, "action": ACTION,
                "template": self.template, "params": self.params,
                "tag_selectors": [s.to_json() for s in self.tag_selectors],
                "scope_selectors": {"repository": [s.to_json() for s in self.repository_selectors]}}


@dataclass(frozen=True, slots=True)
class Candidate:
    """An artifact as retention judges it: pushed / pulled are the latest of the artifact's and its tags'."""

    id: int
    digest: str
    tags: tuple[str, ...]
    pushed: datetime
    pulled: datetime | None = None

    @classmethod
    def from_row(cls, row: CandidateRow) -> Candidate:
        pushed = max([row.push_time, *(t.push_time for t in row.tags)])
        pulls = [p for p in [row.pull_time, *(t.pull_time for t in row.tags)] if p is not None]
        return cls(row.id, row.digest, tuple(t.name for t in row.tags), pushed, max(pulls) if pulls else None)

    @property
    def active(self) -> datetime:
        return max(self.pushed, self.pulled) if self.pulled else self.pushed


@dataclass(frozen=True, slots=True)
class Decision:
    candidate: Candidate
    action: str  # RETAIN, DEL, or ERR (a deletion that failed)
    reason: str = ""


def _newest(candidates: list[Candidate], key: Any, count: int) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (key(c), c.id), reverse=True)[:count]


def retained_by(rule: Rule, selected: list[Candidate], now: datetime) -> list[Candidate]:
    """What one rule's template keeps among the artifacts its selectors took."""
    oldest = datetime.min.replace(tzinfo=now.tzinfo)
    since = now - timedelta(days=min(rule.value, 3_000_000))
    match rule.template:
        case "latestPushedK":
            return _newest(selected, lambda c: c.pushed, rule.value)
        case "latestPulledN":
            return _newest([c for c in selected if c.pulled], lambda c: c.pulled or oldest, rule.value)
        case "latestActiveK":
            return _newest(selected, lambda c: c.active, rule.value)
        case "nDaysSinceLastPush":
            return [c for c in selected if c.pushed >= since]
        case "nDaysSinceLastPull":
            return [c for c in selected if c.pulled is not None and c.pulled >= since]
        case "always":
            return list(selected)
        case _:  # "nothing", and a template this version does not know keeps nothing of its own
            return []


def evaluate(rules: Sequence[Rule], path: str, artifacts: Sequence[Candidate], immutable: set[str],
             now: datetime) -> list[Decision]:
    """RETAIN or DEL for each candidate of the repository ``path`` (newest push first)."""
    active = [r for r in rules if r.applies_to(path)]
    if not active:
        return []
    with_untagged = any(r.takes_untagged for r in active)
    candidates = [c for c in artifacts if c.tags or with_untagged]
    kept: dict[int, list[str]] = {}
    for rule in active:
        for c in retained_by(rule, rule.select(candidates), now):
            kept.setdefault(c.id, []).append(str(rule.id))
    out = []
    for c in sorted(candidates, key=lambda c: (c.pushed, c.id), reverse=True):
        locked = sorted(t for t in c.tags if t in immutable)
        if locked:
            out.append(Decision(c, RETAIN, f"immutable tag {', '.join(locked)}"))
        elif c.id in kept:
            out.append(Decision(c, RETAIN, f"rule {', '.join(kept[c.id])}"))
        else:
            out.append(Decision(c, DELETE, "no rule retains it"))
    return out


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def log_table(decisions: Sequence[Decision]) -> list[str]:
    """Harbor's retention log: one row per artifact with its tags, push and pull times and fate."""
    header = ("DIGEST", "TAGS", "PUSHED", "PULLED", "RETENTION", "WHY")
    rows = [(d.candidate.digest, ",".join(d.candidate.tags) or "<untagged>", _time(d.candidate.pushed),
             _time(d.candidate.pulled), d.action, d.reason) for d in decisions]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [rule, line(header), rule, *(line(r) for r in rows), rule]
