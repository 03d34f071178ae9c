"""How many bytes a socket's kernel still holds for its peer (Linux: SIOCOUTQ).

The kernel grows a socket's send buffer to megabytes, so a client that stopped reading
shows in the application's own buffers only after minutes; what the kernel holds
unacknowledged shows it at once. Elsewhere the answer is 0, and only the transport's
own buffer counts.
"""

from __future__ import annotations

import array
import fcntl
import sys
import termios
from typing import Any

_OUTQ = termios.TIOCOUTQ if sys.platform == "linux" else None
_answer = array.array("i", [0])  # reused: called from the event loop only


def socket_fd(transport: Any) -> int:
    """The descriptor of a transport's socket, or -1 where the kernel cannot be asked."""
    sock = transport.get_extra_info("socket")
    return sock.fileno() if sock is not None and _OUTQ is not None else -1


def unacknowledged(fd: int) -> int:
    """Bytes written to socket `fd` that its peer has not acknowledged (0 if unknown)."""
    if fd < 0 or _OUTQ is None:
        return 0
    try:
        fcntl.ioctl(fd, _OUTQ, _answer, True)
    except OSError:
        return 0
    return _answer[0]
