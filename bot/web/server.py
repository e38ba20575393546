"""Serving the console with uvicorn inside the bot's own asyncio loop (no second loop, no
thread): the chat adapters, the outboxes and the web pages share one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # the bot's run() owns SIGINT/SIGTERM and stops the console with everything else
        yield


class ConsoleServer:
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            access_log=False,  # request lines carry search queries: hospital users' words
            log_level="warning",
            server_header=False,
            # uvicorn would believe X-Forwarded-For from 127.0.0.1 (any local client): the
            # console reads it itself, from [web] trusted_proxies only (bot.web.abuse)
            proxy_headers=False,
            # requests still running after this at shutdown are cut (a stuck client must
            # not hold up a restart)
            timeout_graceful_shutdown=5,
        )
        self._server = _InLoopServer(config)
        self._host = host
        self._port = port
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Start listening; returns the bound port (useful with port 0). A port that cannot
        be bound raises ``OSError`` here, naming the address (uvicorn itself would exit the
        process)."""
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP;
        # without it every response after the first on a kept-alive connection waits ~40 ms
        # for the client's delayed ACK (measured by benchmarks/web.py)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            raise OSError(
                exc.errno, f"web console cannot listen on {self._host}:{self._port}: {exc.strerror}"
            ) from exc
        sock.listen(128)
        sock.setblocking(False)
        port = int(sock.getsockname()[1])
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="web-console")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the web console stopped while starting")
            await asyncio.sleep(0.02)
        return port

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
