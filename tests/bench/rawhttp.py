"""A lean HTTP/1.1 keep-alive client for load generation, in the manner of ``wrk``.

A benchmark's load generator runs on the same two cores as the server and PostgreSQL, so what
it spends per request is taken from them: httpx spends 2 to 7 ms of CPU per request here
(BENCHMARKS.md, the claims benchmark of 2026-11-25 and 2026-12-07), as much as the server's
own work. This client writes a request onto one keep-alive connection and reads the answer
with asyncio streams: about a tenth of a millisecond. It speaks only what the benchmarks
need: requests with a small body, answers with a ``Content-Length`` (the server never sends
chunked answers to these requests; one that does is an error, not a silent misread).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any


class ConnectionLost(Exception):
    """The server closed the connection before answering (a keep-alive race): retry the
    request on a new connection if it is safe to (it carries an Idempotency-Key)."""


class RawHTTP:
    """One keep-alive connection to ``127.0.0.1:port``, used by one task at a time."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: Any = None) -> tuple[int, bytes]:
        """The answer's status and body. ``body`` is sent as JSON when given."""
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 f"Content-Length: {len(payload)}"]
        if payload:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        reader, writer = await self._connect()
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            raise ConnectionLost(str(exc)) from exc
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length, close = None, False
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                raise ValueError(f"{method} {path}: a {value.strip()} answer is not supported")
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        data = await reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, data

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
