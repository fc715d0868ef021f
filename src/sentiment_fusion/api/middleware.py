"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers and breaks streaming).

- :class:`RequestContextMiddleware` (outermost): request id, JSON access log, metrics, and the
  catch-all that turns a bug into a logged JSON 500 while the service keeps serving.
- :class:`BodyLimitMiddleware`: refuses a body over the limit from its Content-Length before
  reading anything, counts the bytes actually streamed (chunked bodies, lying headers), and
  gives up on a body that arrives too slowly.
- :class:`HeadAsGetMiddleware` (innermost): HEAD works wherever GET does (RFC 9110 9.3.2;
  load balancers probe health with it): the GET route runs and only its headers are sent.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import errors
from .metrics import Metrics

log = logging.getLogger(__name__)
access_log = logging.getLogger("sentiment_fusion.api.access")

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(headers: Headers) -> str:
    """Echo a sane incoming X-Request-ID (no spaces/control chars, <=128), else a new one."""
    incoming = headers.get("x-request-id", "")
    return incoming if _SANE_ID.fullmatch(incoming) else uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_from(Headers(scope=scope))
        scope.setdefault("state", {})["request_id"] = rid
        token = REQUEST_ID.set(rid)
        start = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # the catch-all: a bug must not take the service down
            log.exception("unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), rid)
            if status is None:
                status = 500
                await errors.internal_error_response(rid)(scope, receive, send_with_id)
        finally:
            self.metrics.in_progress.dec()
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or ("unmatched" if status == 404 else "other")
            self.metrics.observe_request(template, scope.get("method", ""), status or 499, elapsed)
            client = scope.get("client") or ("", 0)
            access_log.info(
                "%s %s %s",
                scope.get("method"),
                scope.get("path"),
                status,
                extra={
                    "request_id": rid,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "route": template,
                    "status": status or 499,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client[0],
                },
            )
            REQUEST_ID.reset(token)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    def _too_large(self) -> errors.APIError:
        return errors.APIError(413, "body_too_large", f"the request body is over the {self.max_bytes}-byte limit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = scope.get("state", {}).get("request_id")
        headers = Headers(scope=scope)
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding not in ("", "identity") and scope["method"] in ("POST", "PUT", "PATCH"):
            # A compressed body would pass the byte limit and then fail to parse.
            await errors.error_response(
                415,
                "unsupported_content_encoding",
                f"Content-Encoding {encoding!r} is not accepted; send the body uncompressed",
                request_id=rid,
            )(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                await errors.error_response(400, "bad_request", f"invalid Content-Length {length!r}", request_id=rid)(
                    scope, receive, send
                )
                return
            if int(length) > self.max_bytes:
                # Refused from the header alone: not one byte of the body is read.
                error = self._too_large()
                await errors.error_response(
                    413, error.code, error.message, request_id=rid, headers={"Connection": "close"}
                )(scope, receive, send)
                return
        deadline = time.monotonic() + self.timeout_s
        received = 0
        started = body_done = False

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # only disconnect messages are left: no deadline for them
                return await receive()
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(remaining, 0.001))
            except asyncio.TimeoutError:
                raise errors.APIError(
                    408, "body_timeout", f"the request body did not arrive within {self.timeout_s:g} s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
                body_done = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except errors.APIError as exc:  # raised while the body was read outside the router
            if started:
                raise
            await errors.error_response(
                exc.status_code, exc.code, exc.message, request_id=rid, headers={"Connection": "close"}
            )(scope, receive, tracking_send)


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"

        async def send_with_head(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                allow = headers.get("allow")
                if allow and "GET" in allow and "HEAD" not in allow:  # a 405 lists what is served
                    headers["allow"] = f"{allow}, HEAD"
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"} if head else scope, receive, send_with_head)
