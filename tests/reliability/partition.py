"""A TCP relay between a daemon and PostgreSQL that a test can cut, as a network can be.

While cut, nothing passes either way and nothing is closed: bytes are held (TCP would
retransmit them), a new connection is not put through, and a close is not passed on.
:meth:`Relay.end_server_sessions` does what the server's keepalives do to a peer that
went silent: it ends the server's side of every session (the server lets go of an
advisory lock at once), and the daemon learns of it only when the cut heals.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.peers import free_port


class Relay:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._healed = asyncio.Event()
        self._healed.set()
        self._server: asyncio.Server | None = None
        #: Each session: (the daemon's side, the server's side).
        self._pairs: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self._healed.set()
        if self._server is not None:
            self._server.close()
        for pair in self._pairs:
            for w in pair:
                w.close()

    def cut(self) -> None:
        self._healed.clear()

    def heal(self) -> None:
        self._healed.set()

    def end_server_sessions(self) -> None:
        for _, upstream in self._pairs:
            upstream.transport.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._healed.wait()  # a connection made during the cut goes through only after it
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._pairs.append((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer),
                             return_exceptions=True)
        for w in (writer, up_writer):
            w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                data = await reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            await self._healed.wait()  # held through a cut, a close too
            if not data or writer.is_closing():
                break
            writer.write(data)
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.close()
