"""Fetching an image from a URL, only when the operator enabled it, and guarded against SSRF.

- only ``http``/``https``, no credentials in the URL, the host on an allow-list
  (``example.com`` exactly, ``.example.com`` for it and its subdomains);
- the host name is resolved once and EVERY address must be public: loopback, private,
  link-local (cloud metadata 169.254.169.254), CGNAT, multicast, reserved and unspecified
  addresses are refused, IPv4-mapped IPv6 included;
- the connection goes to the address that was checked (no second lookup an attacker's DNS
  could answer differently); TLS still verifies the certificate for the host name (SNI);
- no redirects, a byte limit (Content-Length and the streamed count) and one time limit
  for lookup + connect + download.

Uses httpx (imported only when URL fetching is enabled).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from .config import Settings
from .errors import APIError


def address_forbidden(ip) -> bool:
    """True for addresses a server must never be made to call (non-public ones)."""
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_unspecified
    )


class UrlFetcher:
    def __init__(self, settings: Settings) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - httpx ships with the [serve] extra
            raise RuntimeError("URL fetching needs httpx: pip install 'sentiment-fusion[serve]'") from exc
        self.allowed = list(settings.url_allowed_hosts)
        self.max_bytes = settings.max_image_bytes
        self.timeout = settings.url_timeout_s
        self.allow_private = settings.url_allow_private
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": "sentiment-fusion", "Accept": "image/*", "Accept-Encoding": "identity"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(
            host == rule or (rule.startswith(".") and (host == rule[1:] or host.endswith(rule)))
            for rule in self.allowed
        )

    async def fetch(self, url: str) -> bytes:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise APIError(422, "url_scheme_not_allowed", f"only http(s) image URLs are fetched, not {parts.scheme!r}")
        if parts.username or parts.password:
            raise APIError(422, "invalid_url", "image URLs must not carry credentials")
        try:
            host, port = parts.hostname, parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError:
            raise APIError(422, "invalid_url", f"invalid port in image URL {url!r}") from None
        if not host:
            raise APIError(422, "invalid_url", f"image URL {url!r} has no host")
        if not self.host_allowed(host):
            raise APIError(403, "url_host_not_allowed", f"image URLs from {host!r} are not allowed on this server")
        try:
            return await asyncio.wait_for(self._fetch(parts, host, port), timeout=self.timeout)
        except asyncio.TimeoutError:
            raise APIError(504, "url_timeout", f"fetching the image URL took longer than {self.timeout:g} s") from None

    async def _addresses(self, host: str, port: int) -> list:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise APIError(422, "url_unresolvable", f"the image URL's host {host!r} does not resolve") from None
        except UnicodeError:  # the IDNA codec: an empty label ("a..b") or one over 63 characters
            raise APIError(422, "invalid_url", f"the image URL's host {host!r} is not a valid host name") from None
        addresses = []
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address_forbidden(ip) and not self.allow_private:
                raise APIError(
                    403, "url_address_forbidden", f"the image URL's host {host!r} resolves to a non-public address"
                )
            addresses.append(ip)
        if not addresses:
            raise APIError(422, "url_unresolvable", f"the image URL's host {host!r} has no address")
        return sorted(addresses, key=lambda a: a.version)  # IPv4 first

    async def _fetch(self, parts, host: str, port: int) -> bytes:
        import httpx

        ip = (await self._addresses(host, port))[0]
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        target = parts._replace(netloc=f"{literal}:{port}", fragment="").geturl()
        request = self._client.build_request(
            "GET", target, headers={"Host": parts.netloc.rsplit("@", 1)[-1]}, extensions={"sni_hostname": host}
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise APIError(422, "url_fetch_failed", f"could not fetch the image URL: {type(exc).__name__}") from None
        try:
            if response.is_redirect:
                raise APIError(422, "url_redirect", "the image URL redirects; redirects are not followed")
            if response.status_code != 200:
                raise APIError(422, "url_fetch_failed", f"the image URL answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise APIError(
                    413, "image_too_large", f"the image URL's file is {declared} bytes; the limit is {self.max_bytes}"
                )
            chunks, total = [], 0
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > self.max_bytes:
                    raise APIError(
                        413, "image_too_large", f"the image URL's file is over the {self.max_bytes}-byte limit"
                    )
                chunks.append(chunk)
            return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise APIError(422, "url_fetch_failed", f"could not fetch the image URL: {type(exc).__name__}") from None
        finally:
            await response.aclose()


def make_fetcher(settings: Settings) -> UrlFetcher | None:
    return UrlFetcher(settings) if settings.url_fetch_enabled else None
