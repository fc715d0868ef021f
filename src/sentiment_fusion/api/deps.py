"""Shared dependencies as ``Annotated`` aliases; tests swap any of them with
``app.dependency_overrides[get_service] = ...``.

All are ``async def``: they only read app state, and a plain ``def`` dependency would cost a
thread-pool round trip per dependency per request.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from .config import Settings
from .errors import APIError
from .images import ImageSources
from .inference import InferenceService
from .metrics import Metrics

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="needed when the server sets API keys")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_images(request: Request) -> ImageSources:
    return request.app.state.images


async def get_service(request: Request) -> InferenceService:
    slot = request.app.state.model
    if slot.service is None:
        why = f"the model failed to load ({slot.error})" if slot.error else "the model is still loading"
        raise APIError(503, "model_not_ready", f"{why}; see GET /readyz", headers={"Retry-After": "5"})
    return slot.service


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ImagesDep = Annotated[ImageSources, Depends(get_images)]
ServiceDep = Annotated[InferenceService, Depends(get_service)]


async def require_api_key(settings: SettingsDep, key: Annotated[str | None, Security(_api_key_header)] = None) -> None:
    """No-op without configured keys; else the X-API-Key header must match one (constant time),
    of either scope (``api_keys`` read-write, ``api_read_keys`` read-only)."""
    _check_key(settings, key, write=False)


async def require_write_key(
    settings: SettingsDep, key: Annotated[str | None, Security(_api_key_header)] = None
) -> None:
    """As :func:`require_api_key`, and a read-only key is refused (403): routes that change the store."""
    _check_key(settings, key, write=True)


def _check_key(settings: Settings, key: str | None, *, write: bool) -> None:
    full, read_only = settings.api_key_values(), settings.api_read_key_values()
    if not full and not read_only:
        return
    if not key:
        raise APIError(
            401,
            "missing_api_key",
            "send your API key in the X-API-Key header",
            headers={"WWW-Authenticate": "X-API-Key"},
        )
    given = key.encode()
    if any(hmac.compare_digest(given, k) for k in full):
        return
    if any(hmac.compare_digest(given, k) for k in read_only):
        if write:
            raise APIError(403, "read_only_key", "this API key has read-only scope; this route needs a read-write key")
        return
    raise APIError(
        401,
        "invalid_api_key",
        "the X-API-Key header does not match any key of this server",
        headers={"WWW-Authenticate": "X-API-Key"},
    )


ApiKey = Depends(require_api_key)
WriteKey = Depends(require_write_key)
