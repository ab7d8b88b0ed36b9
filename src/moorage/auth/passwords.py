"""Password hashing (argon2id; bcrypt hashes are verified too) and Harbor's password rule."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import string
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from moorage.core.errors import MoorageError

# Harbor: 8–128 characters with at least one upper-case letter, one lower-case letter and one digit.
_RULE = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d).{8,128}$", re.S)
PASSWORD_RULE = "8–128 characters with at least one upper-case letter, one lower-case letter and one digit"


def check_password_rule(password: str) -> None:
    """Raise BAD_REQUEST unless ``password`` satisfies Harbor's rule."""
    if not _RULE.match(password):
        raise MoorageError(f"the password must be {PASSWORD_RULE}", code="BAD_REQUEST")


def generate_password(length: int = 20) -> str:
    """A random password that satisfies the rule."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if _RULE.match(candidate):
            return candidate


def generate_secret(length: int = 32) -> str:
    """A robot secret: random letters and digits that satisfy the password rule."""
    return generate_password(length)


class Passwords:
    """Hash and verify; low-cost parameters keep a sign-in near 25 ms on 2 cores while
    staying within OWASP's argon2id minimum (19 MiB, t=2).

    ``hash_async``/``check`` run on one dedicated worker thread: argon2 is CPU-bound, so more
    threads would not finish sooner, and each thread would keep its own 19 MiB malloc arena
    (measured: six concurrent sign-ins through ``asyncio.to_thread`` added ~120 MiB of RSS).
    ``app.tune_malloc`` makes that 19 MiB block go back to the system after each use."""

    def __init__(self, time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._dummy = self._hasher.hash(secrets.token_hex(16))
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")

    async def hash_async(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._worker, self.hash, password)

    async def check(self, hashed: str | None, password: str) -> bool:
        """``verify`` on the hashing thread."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, self.verify, hashed, password)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, hashed: str | None, password: str) -> bool:
        """True when ``password`` matches; with ``hashed`` None a dummy hash is checked so an
        unknown user costs the same time as a wrong password."""
        if hashed is None:
            with contextlib.suppress(VerificationError):
                self._hasher.verify(self._dummy, password)
            return False
        if hashed.startswith(("$2a$", "$2b$", "$2y$")):
            return self._verify_bcrypt(hashed, password)
        try:
            return self._hasher.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _verify_bcrypt(hashed: str, password: str) -> bool:
        try:
            import bcrypt
        except ImportError:  # bcrypt hashes only come from imported user tables
            return False
        return bool(bcrypt.checkpw(password.encode(), hashed.encode()))
