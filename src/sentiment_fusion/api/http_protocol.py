"""uvicorn's HTTP protocols plus a deadline for each request's headers.

uvicorn bounds the idle time between requests (``timeout_keep_alive``) but not the time a
client takes to send a request's headers: a connection that opens and sends nothing, or one
header line every few seconds ("slowloris"), is held forever, and enough of them exhaust the
server's sockets. Here a connection that has not finished a request's headers within
``header_timeout_s`` of the connection opening (or of the next request's first byte) is
closed. The body has its own deadline (``body_timeout_s``, in ``middleware.py``).

:func:`protocol_class` prefers the httptools parser (C) to h11 (pure Python) when it is installed
(the ``[serve]`` extra installs it): text requests/s in the load test went up by about 10% on 2
cores (README, "Speed"). The deadline works the same on both.

Imported only by :func:`sentiment_fusion.api.server.serve` (it needs uvicorn).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


@functools.cache
def header_timeout_s() -> float:
    """Read once per process (every uvicorn worker reads its settings from the environment)."""
    from .config import Settings

    return Settings().header_timeout_s


class HeaderDeadline:
    """Mixed into a uvicorn protocol, which has these:"""

    cycle: Any
    loop: Any
    transport: Any
    logger: Any
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_headers():
            self._arm()  # from the first byte of a request; trickling bytes do not extend it
        super().data_received(data)  # type: ignore[misc]
        if not self._waiting_for_headers():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(header_timeout_s(), self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.logger.info("closing a connection that sent no complete request headers in %.0f s", header_timeout_s())
            self.transport.close()


class H11HeaderDeadlineProtocol(HeaderDeadline, H11Protocol):
    pass


def protocol_class() -> type:
    """The httptools protocol with the header deadline, or h11's where httptools is not installed."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return H11HeaderDeadlineProtocol

    class HttpToolsHeaderDeadlineProtocol(HeaderDeadline, HttpToolsProtocol):
        pass

    return HttpToolsHeaderDeadlineProtocol
