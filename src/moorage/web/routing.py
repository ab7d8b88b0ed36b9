"""A route table: method + path pattern → handler, plus the action each route needs."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from moorage.web.http import Request, Response

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler
    action: str | None  # what the caller must be allowed to do (pull, push, delete, catalog)


def route(methods: str, pattern: str, handler: Handler, action: str | None) -> Route:
    return Route(frozenset(methods.split("|")), re.compile(pattern), handler, action)


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, params, path_matched): path_matched without route means 405."""
        path_matched = False
        for r in self.routes:
            m = r.pattern.match(path)
            if m is None:
                continue
            if method in r.methods:
                return r, m.groupdict(), True
            path_matched = True
        return None, {}, path_matched
