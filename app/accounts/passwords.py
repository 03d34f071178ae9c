"""Password hashing (Argon2id through pwdlib) and the rules a password must meet.

The cost is OWASP's recommended Argon2id setting (19 MiB, two passes, one lane): about
40 ms here, and 19 MiB per hash in flight, which a Raspberry Pi can afford a few times
at once. The web layer runs hashes in a small pool of their own so that a burst of
sign-ins never stalls the event loop or takes every thread.

An unknown user name is checked against a dummy hash of the same cost, so a sign-in
takes as long whether or not the name exists.
"""

from __future__ import annotations

import functools
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

PASSWORD_MIN = 10
PASSWORD_MAX = 1024  # argon2 takes any length; a megabyte-long one is only a cost


class PasswordRejected(ValueError):
    """The password breaks a rule; the message says which."""


@functools.cache
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1),))


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def check_password(password: str, user_name: str) -> None:
    """Refuse a password that is too short, too long, or the user's name."""
    if len(password) < PASSWORD_MIN:
        raise PasswordRejected(f"a password needs at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise PasswordRejected(f"a password has at most {PASSWORD_MAX} characters")
    if password.strip().casefold() == user_name.casefold():
        raise PasswordRejected("a password must not be the user name")


def hash_password(password: str) -> str:
    """The Argon2id hash stored for `password` (blocking: tens of milliseconds)."""
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True if `password` matches; with no hash (no such user) as slow, and False."""
    if password_hash is None:
        _hasher().verify(password, _dummy_hash())
        return False
    try:
        return _hasher().verify(password, password_hash)
    except ValueError:  # not a hash pwdlib knows: no password opens it
        return False
