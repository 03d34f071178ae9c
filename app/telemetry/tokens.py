"""Device tokens: 256 random bits, shown once, stored only as a SHA-256 digest.

A slow password hash (bcrypt, argon2) guards low-entropy secrets that people choose.
These tokens are random and long, so a brute-force search of SHA-256 is hopeless, and a
fast digest lets every ingest request be checked in microseconds.
"""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_PREFIX = "tlm_"  # noqa: S105  (a prefix, not a secret)
_TOKEN_SHAPE = re.compile(r"tlm_[A-Za-z0-9_-]{43}")


def new_token() -> str:
    """A fresh device token; the prefix lets secret scanners recognise leaked ones."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def looks_like_token(token: str) -> bool:
    """True for strings shaped like a token this server issues (cheap, before any lookup)."""
    return _TOKEN_SHAPE.fullmatch(token) is not None


def hash_token(token: str) -> str:
    """The digest stored for `token` and used as its rate-limit key."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
