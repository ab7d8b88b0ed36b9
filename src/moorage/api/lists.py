"""List responses in Harbor's style: a JSON array plus ``X-Total-Count`` and ``Link``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from moorage.core.query import Page, paging_headers, parse_page


def page_of(request: Request) -> Page:
    return parse_page(request.query_params.get("page"), request.query_params.get("page_size"))


def dump(item: Any) -> Any:
    if isinstance(item, BaseModel):
        return item.model_dump(mode="json", by_alias=True, exclude_none=True)
    return item


def paged(request: Request, items: Sequence[Any], page: Page, total: int) -> Response:
    headers = paging_headers(request.url.path, dict(request.query_params), page, total)
    return JSONResponse([dump(i) for i in items], headers=headers)


def created(request: Request, location: str) -> Response:
    """201 with ``Location`` (Harbor answers creates with an empty body)."""
    return Response(status_code=201, headers={"Location": location})
