"""A page that does not read: a bare socket with a tiny receive buffer holding a live stream."""

from __future__ import annotations

import asyncio
import socket

__all__ = ["read_until", "unread_stream"]


def unread_stream(url: str, path: str) -> socket.socket:
    """``GET path`` on ``url`` (``http://host:port``) from a socket nobody reads yet."""
    host, port = url.removeprefix("http://").split(":")
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.connect((host, int(port)))
    reader.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    return reader


async def read_until(reader: socket.socket, marker: bytes) -> str:
    """Everything ``reader`` receives until ``marker`` (or the end); the socket is closed."""
    reader.setblocking(False)
    received = bytearray()
    try:
        while marker not in received:
            chunk = await asyncio.get_running_loop().sock_recv(reader, 65536)
            if not chunk:
                break
            received += chunk
    finally:
        reader.close()
    return received.decode(errors="replace")
