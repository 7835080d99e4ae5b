"""The web front-end's readiness probe over HTTPS: it trusts only the CA it is given."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from services.up.certs import make_dev_certs
from services.up.probes import http_ready


async def _answer_200(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass  # a client that could not finish its handshake
    finally:
        writer.close()


async def test_http_ready_over_https_trusts_only_the_ca_it_is_given(tmp_path: Path) -> None:
    certs, _ = make_dev_certs(tmp_path / "ours")
    other, _ = make_dev_certs(tmp_path / "other")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server, certs.server_key)
    server = await asyncio.start_server(_answer_200, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await http_ready("127.0.0.1", port, 5.0, ca_file=str(certs.ca))
        assert not await http_ready("127.0.0.1", port, 5.0, ca_file=str(other.ca))
        assert not await http_ready("127.0.0.1", port, 5.0)  # plain HTTP to a TLS server
    finally:
        server.close()
        await server.wait_closed()
