"""The /v2 ASGI application: route, validate the repository name, run the handler, and
turn every error into the OCI envelope (never a bare 500).

Proxy-cache projects: in transparent mirror mode a pull of a name that matches no local
repository is rewritten to ``<mirror_project>/<name>`` *before* the access check, so the
permission checked is the mirror project's; pushes and deletes into a proxy-cache project are
refused (403 DENIED) after it."""

from __future__ import annotations

import orjson
import structlog

from moorage.core.errors import MoorageError
from moorage.domain.proxy import ProxyCache
from moorage.oci.names import validate_name
from moorage.registry.access import RegistryAccess
from moorage.web.http import Message, Receive, Request, Response, Scope, Send
from moorage.web.routing import Route, Router

log = structlog.get_logger(__name__)
API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


def error_response(exc: MoorageError) -> Response:
    body = orjson.dumps({"errors": [{"code": exc.code, "message": exc.message, "detail": exc.detail}]})
    headers = {"content-type": "application/json"}
    headers.update({k.lower(): v for k, v in exc.headers.items()})
    return Response(exc.status, headers, body)


class RegistryApp:
    def __init__(self, routes: list[Route], access: RegistryAccess, proxy: ProxyCache | None = None) -> None:
        self.router = Router(routes)
        self.access = access
        self.proxy = proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"].append(API_VERSION)
            await send(message)

        response = await self.handle(scope, receive)
        try:
            await response.send(scope, send_with_version)
        except (ConnectionError, OSError) as exc:
            log.info("client_went_away", path=scope["path"], error=str(exc))

    async def handle(self, scope: Scope, receive: Receive) -> Response:
        method, path = scope["method"], scope["path"]
        matched, params, path_matched = self.router.match(method, path)
        if matched is None:
            code = "UNSUPPORTED" if path_matched else "NOT_FOUND"
            message = f"{method} is not supported on {path}" if path_matched else f"no route for {path}"
            return error_response(MoorageError(message, code=code, status=405 if path_matched else 404))
        req = Request(scope, receive, params)
        req.action = matched.action
        try:
            name = params.get("name")
            mirrored = False
            if name is not None and matched.action == "pull" and self.proxy is not None:
                rewritten = await self.proxy.mirror_name(name, blob="/blobs/" in path)
                if rewritten is not None:
                    params["name"] = name = rewritten
                    mirrored = True
            if name is not None:
                validate_name(name)
            req.ctx = await self.access.context(req, matched.action, name)
            await self.access.check(req, req.ctx, matched.action, name, mirrored=mirrored)
            if name is not None and matched.action in ("push", "delete") and self.proxy is not None:
                await self.proxy.refuse_writes(name, matched.action)
            return await matched.handler(req)
        except MoorageError as exc:
            return error_response(exc)
        except ConnectionError:
            return Response(400)
        except Exception:
            log.exception("registry_handler_failed", method=method, path=path)
            return error_response(MoorageError(code="INTERNAL_ERROR"))
