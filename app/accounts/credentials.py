"""Session ids and personal API tokens: 256 random bits, stored only as SHA-256 digests.

As with device tokens (app/telemetry/tokens.py), a fast digest is safe for long random
secrets, and lets each request be checked with one indexed lookup, never a slow hash.
The prefixes make a leaked token recognisable to secret scanners, and tell a personal
token from a device token at a glance.
"""

from __future__ import annotations

import hashlib
import re
import secrets

PERSONAL_TOKEN_PREFIX = "tlp_"  # noqa: S105  (a prefix, not a secret)
_PERSONAL_TOKEN = re.compile(r"tlp_[A-Za-z0-9_-]{43}")
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")


def new_session_id() -> str:
    """A fresh session id for a cookie."""
    return secrets.token_urlsafe(32)


def new_personal_token() -> str:
    """A fresh personal API token."""
    return PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(32)


def looks_like_session_id(value: str) -> bool:
    """True for strings shaped like a session id (cheap, before any lookup)."""
    return _SESSION_ID.fullmatch(value) is not None


def looks_like_personal_token(value: str) -> bool:
    """True for strings shaped like a personal token this server issues."""
    return _PERSONAL_TOKEN.fullmatch(value) is not None


def digest(secret: str) -> str:
    """The SHA-256 digest stored for a session id, token or setup code."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
