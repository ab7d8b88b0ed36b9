"""Resumable digests: SHA-256/512 whose running state can be saved and restored.

hashlib objects cannot be serialised, so an upload continued on another replica (or after
a restart) would have to re-read everything written so far.  OpenSSL's SHA*_CTX is a plain
struct: calling libcrypto through ctypes gives the same speed as hashlib (ctypes releases
the GIL during the call) and a state of a few hundred bytes that the upload row keeps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
from dataclasses import dataclass
from typing import Any

# algorithm -> (context size in bytes, digest size, OpenSSL symbol prefix)
_ALGOS = {"sha256": (112, 32, "SHA256"), "sha512": (216, 64, "SHA512")}


@dataclass(frozen=True)
class _Functions:
    init: Any
    update: Any
    final: Any


class LibCrypto:
    """The libcrypto symbols we use, loaded once per process by whoever needs them."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("crypto")
        if name is None:
            raise OSError("libcrypto not found")
        lib = ctypes.CDLL(name)
        self.functions: dict[str, _Functions] = {}
        for algo, (_, _, prefix) in _ALGOS.items():
            update = getattr(lib, f"{prefix}_Update")
            update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            update.restype = ctypes.c_int
            self.functions[algo] = _Functions(getattr(lib, f"{prefix}_Init"), update, getattr(lib, f"{prefix}_Final"))


class ResumableHash:
    """A running digest; ``state()`` returns bytes that ``restore`` turns back into one."""

    def __init__(self, lib: LibCrypto, algorithm: str, state: bytes | None = None) -> None:
        if algorithm not in _ALGOS:
            raise ValueError(f"unsupported algorithm {algorithm}")
        ctx_size, self._digest_size, _ = _ALGOS[algorithm]
        self.algorithm = algorithm
        self._fn = lib.functions[algorithm]
        if state is None:
            self._ctx = ctypes.create_string_buffer(ctx_size)
            if self._fn.init(self._ctx) != 1:
                raise OSError(f"{algorithm} init failed")
        else:
            if len(state) != ctx_size:
                raise ValueError("hash state has the wrong size")
            self._ctx = ctypes.create_string_buffer(state, ctx_size)

    def update(self, data: bytes) -> None:
        if data and self._fn.update(self._ctx, data, len(data)) != 1:
            raise OSError(f"{self.algorithm} update failed")

    def state(self) -> bytes:
        return self._ctx.raw

    def hexdigest(self) -> str:
        ctx = ctypes.create_string_buffer(self._ctx.raw, len(self._ctx))  # finalising a copy keeps self usable
        out = ctypes.create_string_buffer(self._digest_size)
        if self._fn.final(out, ctx) != 1:
            raise OSError(f"{self.algorithm} final failed")
        return out.raw.hex()


class Hashers:
    """Makes running digests; falls back to hashlib (not resumable) where libcrypto is missing."""

    def __init__(self) -> None:
        try:
            self._lib: LibCrypto | None = LibCrypto()
        except (OSError, AttributeError):
            self._lib = None

    @property
    def resumable(self) -> bool:
        return self._lib is not None

    def new(self, algorithm: str = "sha256", state: bytes | None = None) -> ResumableHash | Any:
        """A fresh hasher, or one restored from ``state`` (None where not resumable)."""
        if self._lib is not None:
            return ResumableHash(self._lib, algorithm, state)
        if state is not None:
            raise ValueError("hash state cannot be restored without libcrypto")
        return hashlib.new(algorithm)


def state_of(hasher: Any) -> bytes | None:
    """The saved state of a hasher from ``Hashers.new`` (None for plain hashlib)."""
    return hasher.state() if isinstance(hasher, ResumableHash) else None
