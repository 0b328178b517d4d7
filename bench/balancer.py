"""A small round-robin TCP balancer for the scale-out scenario (``bench/scaleout.py``).

    python bench/balancer.py --backend 127.0.0.1:8001 --backend 127.0.0.1:8002 [--port 0]

Each client connection goes to the next backend in turn and stays there (HTTP keep-alive: wrk's 32
connections become 16 per backend with two). It copies bytes both ways with flow control and never
parses HTTP, so it adds one hop and its own CPU (which the scenario measures), nothing else. It prints
``listening <port>`` once bound. Stopped by SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal


class _Upstream(asyncio.Protocol):
    """The balancer's connection to a backend: what arrives goes to the client."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()

    # The backend's socket buffer is full: stop reading from the client until it drains.
    def pause_writing(self) -> None:
        self.client.pause_reading()

    def resume_writing(self) -> None:
        self.client.resume_reading()


class _Client(asyncio.Protocol):
    """A client's connection: opens one to the next backend, then copies bytes both ways."""

    def __init__(self, backends: itertools.cycle) -> None:
        self.backends = backends
        self.transport: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.pause_reading()  # until the backend connection is open
        host, port = next(self.backends)
        asyncio.get_running_loop().create_task(self._connect(host, port))

    async def _connect(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            upstream, _ = await loop.create_connection(lambda: _Upstream(self.transport), host, port)
        except OSError:
            self.transport.close()
            return
        if self.transport.is_closing():
            upstream.close()
            return
        self.upstream = upstream
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.upstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.close()

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.resume_reading()


async def serve(port: int, backends: list[tuple[str, int]]) -> None:
    loop = asyncio.get_running_loop()
    cycle = itertools.cycle(backends)
    server = await loop.create_server(lambda: _Client(cycle), "127.0.0.1", port, backlog=1024)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with server:
        await stop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--backend", action="append", required=True, help="host:port, once per backend")
    args = ap.parse_args()
    backends = [(b.rsplit(":", 1)[0], int(b.rsplit(":", 1)[1])) for b in args.backend]
    asyncio.run(serve(args.port, backends))


if __name__ == "__main__":
    main()
