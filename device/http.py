"""A small HTTP client on the standard library: POST JSON, get status, headers and body.

Anything that leaves no answer (refused, reset, timed out, DNS, TLS) is a TransportError;
any answer, whatever its status, is a Response. The connection is kept alive between
requests; a request that fails on a reused connection before an answer is retried once
on a fresh one, because servers close idle connections (a resend is always safe here:
the server recognises a repeated reading).
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

# The most of an answer read: the telemetry server's are far smaller (a 422 naming 50
# errors is about 10 KiB); anything longer is another service's page, and is cut.
MAX_RESPONSE_BYTES = 64 * 1024

_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class TransportError(Exception):
    """No answer came back; the message says why in words a user can act on."""


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP answer; header names are lower case."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def retry_after(self, now: datetime | None = None) -> float | None:
        """The Retry-After header in seconds (delay or HTTP date), if there is one."""
        value = self.headers.get("retry-after", "").strip()
        if not value:
            return None
        if value.isascii() and value.isdigit():  # not "²": str.isdigit takes more than 0-9
            return float(value)
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def check_url(url: str) -> str:
    """`url` without a trailing slash, or ValueError saying what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL, e.g. https://telemetry.lan")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} must not have a query or fragment")
    try:
        parts.port  # noqa: B018  (parsing the port is the check)
    except ValueError:
        raise ValueError(
            f"{url!r} has no valid port: give a number from 1 to 65535 after the host"
        ) from None
    return url.rstrip("/")


class Client:
    """POSTs to one server over a kept-alive connection."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        user_agent: str,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.base_url = check_url(base_url)
        parts = urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path
        self._timeout = timeout
        self._user_agent = user_agent
        self._max_response_bytes = max_response_bytes
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST `body` as JSON to `path`; raises TransportError when no answer comes."""
        all_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
            **headers,
        }
        reused = self._connection is not None
        try:
            return self._exchange(path, body, all_headers)
        except _STALE as exc:
            self.close()
            if not reused:
                raise TransportError(self._describe(exc)) from exc
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise TransportError(self._describe(exc)) from exc
        try:
            return self._exchange(path, body, all_headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise TransportError(self._describe(exc)) from exc

    def _exchange(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        if self._connection is None:
            self._connection = self._connect()
        connection = self._connection
        connection.request("POST", self._prefix + path, body=body, headers=dict(headers))
        answer = connection.getresponse()
        data = answer.read(self._max_response_bytes)
        response = Response(
            status=answer.status,
            headers={name.lower(): value for name, value in answer.getheaders()},
            body=data,
        )
        if answer.will_close or not answer.isclosed():
            # Closed by the server, or a body larger than we read: start afresh next time.
            self.close()
        return response

    def _describe(self, exc: BaseException) -> str:
        where = self.base_url
        if isinstance(exc, TimeoutError | socket.timeout):
            return f"{where} did not answer within {self._timeout:g} s"
        if isinstance(exc, ConnectionRefusedError):
            return f"{where} refused the connection (is the server running on that port?)"
        if isinstance(exc, socket.gaierror):
            return f"cannot resolve {self._host!r} ({exc.strerror}); check the server URL and DNS"
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"{where}: the server's TLS certificate is not trusted ({exc.verify_message})"
        if isinstance(exc, ssl.SSLError):
            return f"{where}: TLS failed ({exc.reason})"
        if isinstance(exc, http.client.HTTPException | ConnectionError):
            return f"{where} closed the connection without an answer ({type(exc).__name__})"
        return f"{where}: {exc}"

    def close(self) -> None:
        """Close the kept-alive connection, if any."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
