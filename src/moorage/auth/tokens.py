"""Registry bearer tokens (Docker token authentication spec): RS256 JWTs with ``access``
claims, signed by a key pair generated on first start and kept in the database, so every
replica signs and verifies with the same keys.  The JWT header carries the key id."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from moorage.db.base import utcnow
from moorage.db.engine import Database
from moorage.metadata.queries import system as q

ALGORITHM = "RS256"
RELOAD_INTERVAL = 10.0  # seconds: tokens with unknown key ids cannot make every request read the keys


@dataclass(frozen=True, slots=True)
class Access:
    """One granted scope: ``type`` (repository, registry), ``name`` and the actions."""

    type: str
    name: str
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    access: tuple[Access, ...]
    expires_at: datetime
    service: str

    def allows(self, type_: str, name: str, action: str) -> bool:
        return any(a.type == type_ and a.name == name and (action in a.actions or "*" in a.actions)
                   for a in self.access)


class InvalidToken(Exception):
    """The token is malformed, expired, for another service, or not signed by us."""


def _kid(public_der: bytes) -> str:
    digest = hashlib.sha256(public_der).digest()[:15]
    return base64.b32encode(digest).decode().rstrip("=")


class TokenService:
    def __init__(self, db: Database, issuer: str) -> None:
        self.db = db
        self.issuer = issuer
        self._signing: tuple[str, Any] | None = None
        self._public: dict[str, Any] = {}
        # Clients reuse one token for many requests; a token is immutable, so its verified
        # claims are kept until it expires (RS256 verification costs more than a manifest GET).
        self._verified: dict[str, TokenClaims] = {}
        self._loaded_at = 0.0

    async def load(self) -> None:
        """Load the key pairs, generating the first one if there is none (idempotent)."""
        async with self.db.read() as conn:
            keys = await q.list_signing_keys(conn)
        if not keys:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
            der = private.public_key().public_bytes(serialization.Encoding.DER,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
            async with self.db.write() as uow:
                await q.add_signing_key(uow.conn, _kid(der), ALGORITHM, pem)
            async with self.db.read() as conn:
                keys = await q.list_signing_keys(conn)
        # Two replicas racing on first start may both insert; all sign with the oldest.
        keys.sort(key=lambda k: (k.created_at, k.kid))
        private_keys = {k.kid: serialization.load_pem_private_key(k.private_pem.encode(), None) for k in keys}
        self._public = {kid: key.public_key() for kid, key in private_keys.items()}
        self._signing = (keys[0].kid, private_keys[keys[0].kid])
        self._loaded_at = time.monotonic()

    def issue(self, subject: str, access: list[Access], service: str, lifetime_minutes: int) -> tuple[str, int,
                                                                                                     datetime]:
        """(token, expires_in seconds, issued_at)."""
        assert self._signing is not None, "TokenService.load() first"
        kid, key = self._signing
        now = utcnow().replace(microsecond=0)
        expires = now + timedelta(minutes=lifetime_minutes)
        claims = {
            "iss": self.issuer, "sub": subject, "aud": service, "exp": expires, "nbf": now - timedelta(seconds=5),
            "iat": now, "jti": secrets.token_urlsafe(16),
            "access": [{"type": a.type, "name": a.name, "actions": list(a.actions)} for a in access],
        }
        token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
        return token, lifetime_minutes * 60, now

    async def verify(self, token: str, service: str) -> TokenClaims:
        """The claims of a valid token for ``service``; raises InvalidToken otherwise."""
        cached = self._verified.get(token)
        if cached is not None and cached.service == service:
            if cached.expires_at > datetime.now(UTC):
                return cached
            del self._verified[token]
        claims = await self._verify(token, service)
        if len(self._verified) >= 10_000:
            now = datetime.now(UTC)
            self._verified = {t: c for t, c in self._verified.items() if c.expires_at > now}
            if len(self._verified) >= 10_000:
                self._verified.clear()
        self._verified[token] = claims
        return claims

    async def _verify(self, token: str, service: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        kid = str(header.get("kid", ""))
        if kid not in self._public and time.monotonic() - self._loaded_at > RELOAD_INTERVAL:
            await self.load()  # a key added by another replica (at most one read per interval)
        public = self._public.get(kid)
        if public is None or header.get("alg") != ALGORITHM:
            raise InvalidToken("unknown signing key")
        try:
            claims = jwt.decode(token, public, algorithms=[ALGORITHM], audience=service, issuer=self.issuer,
                                options={"require": ["exp", "iat", "nbf", "sub", "aud", "iss"]})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        access = []
        for item in claims.get("access") or ():
            if isinstance(item, dict):
                access.append(Access(str(item.get("type", "")), str(item.get("name", "")),
                                     tuple(str(a) for a in item.get("actions") or ())))
        return TokenClaims(str(claims["sub"]), tuple(access), datetime.fromtimestamp(claims["exp"], UTC), service)
