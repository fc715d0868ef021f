"""Alert webhooks of monitor mode: one signed JSON POST per new alert and configured URL.

- **What**: the ingest transaction that creates an alert records it (``monitor_alerts``, with the
  JSON payload) and one delivery row per webhook URL (``monitor_deliveries``); see ``monitor.py``.
- **Never blocking ingest**: this dispatcher is its own asyncio task; ingest only writes rows and
  wakes it. A slow or dead receiver delays nothing but its own deliveries.
- **Retries**: a non-2xx answer, a timeout or a refused connection is retried after
  ``webhook_backoff_s`` doubled per attempt (capped at ``webhook_max_backoff_s``), up to
  ``webhook_max_attempts``; then the row says it gave up, and why (``last_error``).
- **Never twice**: a delivery is marked delivered as soon as the receiver answers 2xx, and a
  restart resumes from the rows, so an alert already delivered is not sent again, and alerts that
  exist when the monitor first opens a store are recorded as seen, not sent. (A kill in the few
  milliseconds between the receiver's 2xx and that commit would send it once more after the
  restart: ``X-Sentiment-Fusion-Delivery`` carries the alert id, the same on every attempt, for
  receivers that must deduplicate even then.)
- **Signed**: with ``webhook_secret``, ``X-Sentiment-Fusion-Signature: sha256=<hex>`` is the
  HMAC-SHA256 of ``"<X-Sentiment-Fusion-Timestamp>." + body`` (the timestamp binds the signature to
  the moment, so a receiver can refuse replays).
- **Outbound rules as for image URLs** (``fetch.py``): http(s) only, no credentials, the host on
  ``url_allowed_hosts``, every resolved address public (``url_allow_private`` is for tests), the
  connection made to the address that was checked, no redirects.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from datetime import timedelta
from urllib.parse import urlsplit

from .config import Settings
from .fetch import address_forbidden

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Sentiment-Fusion-Signature"
TIMESTAMP_HEADER = "X-Sentiment-Fusion-Timestamp"
DELIVERY_HEADER = "X-Sentiment-Fusion-Delivery"
_CONCURRENT = 4  # deliveries in flight at once


class WebhookURLError(ValueError):
    """A configured webhook URL that the outbound rules refuse."""


def host_allowed(host: str, rules: list[str]) -> bool:
    """``example.com`` exactly, ``.example.com`` for it and its subdomains (as ``fetch.py``)."""
    host = host.lower().rstrip(".")
    return any(host == r or (r.startswith(".") and (host == r[1:] or host.endswith(r))) for r in rules)


def check_webhook_url(url: str, settings: Settings) -> None:
    """Refuse a webhook URL by its form and host, before any address is looked up."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise WebhookURLError(f"webhook {url!r}: only http(s) URLs are allowed")
    if parts.username or parts.password:
        raise WebhookURLError(f"webhook {url!r}: URLs must not carry credentials (use webhook_secret)")
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise WebhookURLError(f"webhook {url!r}: invalid port") from None
    if not host:
        raise WebhookURLError(f"webhook {url!r} has no host")
    if not host_allowed(host, settings.url_allowed_hosts):
        raise WebhookURLError(
            f"webhook {url!r}: host {host!r} is not on url_allowed_hosts (SENTIMENT_FUSION_URL_ALLOWED_HOSTS), "
            "the allow-list of outbound hosts"
        )


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class DeliveryError(Exception):
    """One attempt failed; the message is kept in ``last_error``."""


class WebhookDispatcher:
    """Sends the due deliveries of ``monitor_deliveries``; wakes on each commit (``wake``)."""

    def __init__(self, monitor, settings: Settings) -> None:
        import httpx

        for url in settings.webhook_urls:
            check_webhook_url(url, settings)
        self.monitor = monitor
        self.settings = settings
        self.urls = list(settings.webhook_urls)
        self.secret = settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else None
        self._wake = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.webhook_timeout_s), follow_redirects=False, trust_env=False
        )
        self._task = asyncio.create_task(self._run(), name="sentiment-fusion-webhooks")
        self.sent = 0  # successful deliveries since start (tests, logs)

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                wait = await self._deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the dispatcher must outlive one bad round
                log.exception("webhook round failed")
                wait = 5.0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            self._wake.clear()

    async def _deliver_due(self) -> float:
        """Send what is due; return the seconds until the next retry is due (at most 30)."""
        from ..insights.store import utc_now

        def due(view) -> tuple[list[dict], list[dict]]:
            pending = view.query(
                """SELECT d.alert_id, d.url, d.attempts, d.next_at, a.payload FROM monitor_deliveries AS d
                   JOIN monitor_alerts AS a USING (alert_id)
                   WHERE d.delivered_at IS NULL AND NOT d.gave_up AND d.url IN (SELECT unnest(?))
                   ORDER BY d.next_at, d.alert_id""",
                [self.urls],
            )
            now = utc_now()
            return [r for r in pending if r["next_at"] <= now], [r for r in pending if r["next_at"] > now]

        ready, later = await self.monitor.read(due)
        semaphore = asyncio.Semaphore(_CONCURRENT)

        async def one(row: dict) -> None:
            async with semaphore:
                await self._attempt(row)

        await asyncio.gather(*(one(row) for row in ready))
        if ready:  # retries may now be due sooner than anything seen before this round
            return 0.05 if any(r["attempts"] + 1 < self.settings.webhook_max_attempts for r in ready) else 1.0
        if later:
            return max(0.05, min(30.0, (min(r["next_at"] for r in later) - utc_now()).total_seconds()))
        return 30.0

    async def _attempt(self, row: dict) -> None:
        from ..insights.store import utc_now

        body = row["payload"].encode()
        try:
            await self._post(row["url"], row["alert_id"], body)
        except DeliveryError as exc:
            error = str(exc)[:500]
            attempts = row["attempts"] + 1
            gave_up = attempts >= self.settings.webhook_max_attempts
            delay = min(self.settings.webhook_max_backoff_s, self.settings.webhook_backoff_s * 2 ** (attempts - 1))
            log.warning(
                "webhook %s for %s failed (attempt %d%s): %s",
                row["url"],
                row["alert_id"],
                attempts,
                ", giving up" if gave_up else f", retry in {delay:g} s",
                error,
            )

            def failed(con) -> None:
                con.execute(
                    """UPDATE monitor_deliveries SET attempts = ?, next_at = ?, gave_up = ?, last_error = ?
                       WHERE alert_id = ? AND url = ?""",
                    [
                        attempts,
                        utc_now() + timedelta(seconds=delay),
                        gave_up,
                        error,
                        row["alert_id"],
                        row["url"],
                    ],
                )

            await self.monitor.write(failed)
            return

        def delivered(con) -> None:
            con.execute(
                """UPDATE monitor_deliveries SET attempts = attempts + 1, delivered_at = ?, last_error = NULL
                   WHERE alert_id = ? AND url = ?""",
                [utc_now(), row["alert_id"], row["url"]],
            )

        await self.monitor.write(delivered)
        self.sent += 1
        log.info("webhook %s: alert %s delivered", row["url"], row["alert_id"])

    async def _post(self, url: str, alert_id: str, body: bytes) -> None:
        import httpx

        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        ip = await self._address(host, port)
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        target = parts._replace(netloc=f"{literal}:{port}", fragment="").geturl()
        timestamp = str(int(time.time()))
        headers = {
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "Content-Type": "application/json",
            "User-Agent": "sentiment-fusion-webhook",
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: alert_id,
        }
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        try:
            response = await self._client.post(target, content=body, headers=headers, extensions={"sni_hostname": host})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"HTTP {response.status_code}")

    async def _address(self, host: str, port: int):
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise DeliveryError(f"host {host!r} does not resolve") from None
        addresses = []
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address_forbidden(ip) and not self.settings.url_allow_private:
                raise DeliveryError(f"host {host!r} resolves to a non-public address ({ip}); refused")
            addresses.append(ip)
        if not addresses:
            raise DeliveryError(f"host {host!r} has no address")
        return sorted(addresses, key=lambda a: a.version)[0]
