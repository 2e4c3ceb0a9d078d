"""Instant pickup: an enqueue wakes an idle consumer at once instead of waiting for its next poll.

Each consumer binds a datagram socket in Linux's abstract namespace (no file to clean up) and
records its address in the queue's `consumer` table; every enqueue, in any process on the host,
sends one byte to each. Idle workers block in `recv` on that socket. A byte sent while no worker
waits stays in the socket's buffer, so a wake-up that races a worker going to sleep is not lost.
Where abstract sockets do not exist, `Waker` is not available and workers poll every WAIT seconds.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket

WAIT = 1.0  # seconds an idle worker waits before it looks anyway (and sees the stop flag)

_sender: socket.socket | None = None


def wake(addresses: list[str]) -> None:
    """Wake the consumers at these addresses; a full buffer or a dead consumer is ignored."""
    global _sender
    if not addresses:
        return
    if _sender is None:
        _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _sender.setblocking(False)
    for address in addresses:
        # A consumer that is gone, or already has wake-ups waiting in its buffer, needs no more.
        with contextlib.suppress(OSError):
            _sender.sendto(b"!", "\0" + address)


class Waker:
    """The receiving end, one per consumer process, shared by its worker threads."""

    def __init__(self):
        self.address = f"tasks-huey/{os.getpid()}/{secrets.token_hex(4)}"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind("\0" + self.address)
        self._socket.settimeout(WAIT)

    def wait(self) -> None:
        """Block until an enqueue anywhere on the host wakes this consumer, or WAIT seconds pass."""
        with contextlib.suppress(TimeoutError):
            self._socket.recv(64)

    def wake_all(self, count: int) -> None:
        """Let `count` waiting workers return now (the consumer is stopping)."""
        wake([self.address] * count)

    def close(self) -> None:
        self._socket.close()


def create_waker() -> Waker | None:
    try:
        return Waker()
    except OSError:  # no abstract namespace (not Linux): workers poll
        return None
