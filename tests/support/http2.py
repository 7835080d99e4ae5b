"""Raw HTTP/2 on a socket: a client preface, and the SETTINGS a server advertises."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

__all__ = ["MAX_CONCURRENT_STREAMS", "PREFACE", "advertised_settings"]

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""The client connection preface (RFC 9113, 3.4); a SETTINGS frame must follow it."""
MAX_CONCURRENT_STREAMS = 0x3
_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS = 0x4


def _frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each whole HTTP/2 frame in ``data``."""
    at = 0
    while at + 9 <= len(data):
        length = int.from_bytes(data[at : at + 3], "big")
        kind = data[at + 3]
        yield kind, data[at + 9 : at + 9 + length]
        at += 9 + length


def advertised_settings(target: str, timeout: float = 30.0) -> dict[int, int]:
    """The SETTINGS (identifier -> value) the server at ``host:port`` sends a new client."""
    host, port = target.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(PREFACE + _EMPTY_SETTINGS)
        sock.settimeout(timeout)
        first = sock.recv(65536)
    payload = next(payload for kind, payload in _frames(first) if kind == _SETTINGS)
    return dict(struct.iter_unpack(">HI", payload))
