"""A TCP forwarder in a process of its own, so a test can pause a database for its clients only.

``python -m tests.observability.pausable_proxy HOST PORT`` listens on a free
loopback port, prints it on the first line of stdout and forwards every
connection to HOST:PORT. SIGSTOP to this process freezes the path exactly as
a paused database does from the client's side (connections stay open, the
kernel still accepts new ones, nothing answers); SIGCONT resumes it. The
database itself, shared with everyone else on the machine, is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

# Bytes read per chunk each way.
CHUNK_BYTES = 65_536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(CHUNK_BYTES):
            writer.write(chunk)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _serve(host: str, port: int) -> None:
    async def forward(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        try:
            server_reader, server = await asyncio.open_connection(host, port)
        except OSError:
            client.close()
            return
        await asyncio.gather(_pipe(client_reader, server), _pipe(server_reader, client))

    server = await asyncio.start_server(forward, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    asyncio.run(_serve(host, port))


if __name__ == "__main__":
    main()
