"""The ``/api/v2.0`` application (plus ``/service/token`` and ``/c/*``): FastAPI for
validation and the OpenAPI document, Harbor's error envelope for every failure.

Route modules live in ``api/routes``; each exposes ``router`` and is included here.
"""

from __future__ import annotations

import importlib
import pkgutil

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from moorage.api import routes
from moorage.api.services import ApiServices
from moorage.core.errors import MoorageError
from moorage.web.http import Message, Receive, Scope, Send

log = structlog.get_logger(__name__)
API_PREFIX = "/api/v2.0"


def error_body(code: str, message: str) -> dict[str, list[dict[str, str]]]:
    return {"errors": [{"code": code, "message": message}]}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def build_api(services: ApiServices) -> FastAPI:
    app = FastAPI(
        title="Moorage API", version="2.0",
        description="Harbor-compatible REST API (the subset Moorage implements).",
        openapi_url=f"{API_PREFIX}/openapi.json", docs_url="/devcenter-api-2.0", redoc_url=None,
    )
    app.state.services = services

    @app.exception_handler(MoorageError)
    async def _moorage_error(request: Request, exc: MoorageError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("BAD_REQUEST", _validation_message(exc)), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "BAD_REQUEST")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api_handler_failed", method=request.method, path=request.url.path)
        return JSONResponse(error_body("INTERNAL_SERVER_ERROR", "internal server error"), status_code=500)

    for module in sorted(m.name for m in pkgutil.iter_modules(routes.__path__)):
        app.include_router(importlib.import_module(f"{routes.__name__}.{module}").router)
    return app


class ApiApp:
    """ASGI wrapper: adds ``X-Harbor-CSRF-Token`` to responses of session-authenticated requests."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})

        async def send_with_csrf(message: Message) -> None:
            if message["type"] == "http.response.start" and state.get("csrf_token"):
                message.setdefault("headers", []).append((b"x-harbor-csrf-token", state["csrf_token"].encode()))
            await send(message)

        await self.app(scope, receive, send_with_csrf)
