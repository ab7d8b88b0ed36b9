"""Who may do what on ``/v2``: resolve the caller (registry bearer token, Basic credentials
or anonymous) and check the action the route declares against the permission table (Basic,
anonymous) or the token's granted scopes (bearer).  Failing checks answer as distribution
and Harbor do: 401 with a ``WWW-Authenticate: Bearer realm,service,scope`` challenge for
anonymous callers and anonymous tokens, 403 ``DENIED`` for signed-in callers (Basic, or a
token naming its subject — with the challenge, so clients can fetch a wider token)."""

from __future__ import annotations

from dataclasses import dataclass

from moorage.auth.context import Authenticator, SecurityContext
from moorage.auth.grants import repository_actions
from moorage.auth.tokens import InvalidToken, TokenService
from moorage.auth.visibility import visible_project_ids
from moorage.core.errors import MoorageError, oci_error
from moorage.domain.audit import Actor
from moorage.web.http import Request

# Route action → the token scope actions a client should ask for.
_SCOPE_ACTIONS = {"pull": "pull", "push": "pull,push", "delete": "delete"}


@dataclass(frozen=True, slots=True)
class AccessSettings:
    service: str
    external_url: str | None


class RegistryAccess:
    def __init__(self, authenticator: Authenticator, tokens: TokenService, settings: AccessSettings) -> None:
        self.auth = authenticator
        self.tokens = tokens
        self.settings = settings

    async def context(self, req: Request, action: str | None = None, name: str | None = None) -> SecurityContext:
        """The caller; raises UNAUTHORIZED (with a challenge for the route's scope) for bad
        credentials or tokens."""
        scope = _scope(action, name)
        header = req.headers.get("authorization", "")
        scheme = header[:7].lower()
        if scheme == "bearer ":
            try:
                claims = await self.tokens.verify(header[7:].strip(), self.settings.service)
            except InvalidToken as exc:
                raise self._challenge(req, scope, f"invalid registry token: {exc}") from None
            return self.auth.context(self.auth.anonymous().principal, "bearer", claims=claims)
        if scheme[:6] == "basic ":
            found = await self.auth.basic(header, client_ip(req))
            if found is None:
                raise self._challenge(req, scope, "invalid username or password")
            return self.auth.context(found, "basic")
        return self.auth.anonymous()

    async def check(self, req: Request, ctx: SecurityContext, action: str | None, name: str | None, *,
                    mirrored: bool = False) -> None:
        """Raise UNAUTHORIZED/DENIED unless ``ctx`` may do the route's ``action`` on ``name``.
        ``mirrored``: ``name`` was rewritten into the mirror project (mirror mode), so a token
        (issued for the unprefixed name) is judged by its subject's rights on ``name``."""
        if action is None:  # GET /v2/: anyone who authenticated (a client's login probe)
            if ctx.via == "anonymous":
                raise self._challenge(req, None, "authentication required")
            return
        if action == "catalog":
            if ctx.claims is not None:
                if not ctx.claims.allows("registry", "catalog", "*"):
                    raise self._challenge(req, "registry:catalog:*", "token does not grant the catalog")
            elif ctx.via == "anonymous":
                raise self._challenge(req, "registry:catalog:*", "authentication required")
            return
        assert name is not None
        if ctx.claims is not None:
            if mirrored and not ctx.claims.allows("repository", name, action) \
                    and await self._subject_may(ctx.claims.subject, name, action):
                return
            if not ctx.claims.allows("repository", name, action):
                challenge = self._challenge(req, _scope(action, name),
                                            f"token does not grant {action} on {name}")
                if not ctx.claims.subject:  # an anonymous token: sign in and ask again
                    raise challenge
                # A signed-in subject's token lacks the action: DENIED, with the challenge so
                # that clients holding a narrower token (oras) fetch one for this scope.
                raise oci_error("DENIED", f"{ctx.claims.subject} may not {action} {name}",
                                detail={"name": name}, headers=challenge.headers)
            return
        if await self.may(ctx, name, action):
            return
        if ctx.via == "anonymous":
            raise self._challenge(req, _scope(action, name), "authentication required")
        raise oci_error("DENIED", f"{ctx.username} may not {action} {name}", detail={"name": name})

    async def may(self, ctx: SecurityContext, name: str, action: str) -> bool:
        """May the caller ``action`` (pull, push, delete) on repository ``name``?"""
        if ctx.claims is not None:
            return ctx.claims.allows("repository", name, action)
        return action in await repository_actions(ctx, name)

    async def _subject_may(self, subject: str, name: str, action: str) -> bool:
        """May a token's subject (anonymous when empty) ``action`` on ``name`` by its current rights?"""
        principal = await self.auth.principal_named(subject) if subject else None
        ctx = self.auth.context(principal, "bearer") if principal is not None else self.auth.anonymous()
        return action in await repository_actions(ctx, name)

    async def visible_projects(self, ctx: SecurityContext) -> set[int] | None:
        """Ids of projects whose repositories the caller may list; None means all.  A bearer
        token names only its subject, so the subject's current rights are looked up."""
        principal = ctx.principal
        if ctx.claims is not None:
            found = await self.auth.principal_named(ctx.claims.subject)
            if found is None:
                return set()
            principal = found
        return await visible_project_ids(self.auth.db, principal)

    def _challenge(self, req: Request, scope: str | None, message: str) -> MoorageError:
        base = self.settings.external_url or f"{req.scope.get('scheme', 'http')}://{req.headers.get('host', '')}"
        params = f'realm="{base.rstrip("/")}/service/token",service="{self.settings.service}"'
        if scope:
            params += f',scope="{scope}"'
        return oci_error("UNAUTHORIZED", message, headers={"www-authenticate": f"Bearer {params}"})


def _scope(action: str | None, name: str | None) -> str | None:
    if action == "catalog":
        return "registry:catalog:*"
    if action in _SCOPE_ACTIONS and name is not None:
        return f"repository:{name}:{_SCOPE_ACTIONS[action]}"
    return None


def client_ip(req: Request) -> str:
    client = req.scope.get("client")
    return str(client[0]) if client else ""


def actor_of(req: Request, ctx: SecurityContext) -> Actor:
    if ctx.claims is not None:
        return Actor(ctx.claims.subject or "anonymous", client_ip(req))
    return Actor(ctx.username, client_ip(req))

