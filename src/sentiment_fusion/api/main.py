"""Builds the app, and nothing else: ``create_app(settings=None, analyzer=None)``.

The model is loaded in the lifespan handler (in the background by default, so ``/healthz``
answers at once and ``/readyz`` is 503 until the model is in). Tests pass their own
``analyzer`` (or override :func:`deps.get_service`), and settings are read from the
environment (``SENTIMENT_FUSION_*``) when not given.

    uvicorn --factory sentiment_fusion.api.main:create_app
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from .. import __version__
from . import errors
from .config import Settings
from .fetch import make_fetcher
from .images import ImageSources
from .inference import ModelSlot
from .metrics import Metrics
from .middleware import BodyLimitMiddleware, HeadAsGetMiddleware, RequestContextMiddleware
from .routes import docs, health, metrics, model, page, predict
from .routes.page import STATIC_DIR, PageFiles

log = logging.getLogger(__name__)

DESCRIPTION = """Negative / Neutral / Positive sentiment of social-media posts from their text, their
image, or both, with calibrated probabilities. Errors are JSON: `{"error": {"code", "message"}}`."""


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    fetcher = make_fetcher(settings)
    app.state.images = ImageSources(settings, fetcher)
    monitor = None
    if settings.monitor_db is not None:  # open the store first: a store that cannot be opened stops the start
        from .monitor import MonitorStore

        monitor = app.state.monitor = MonitorStore(settings.monitor_db, settings)
        if settings.webhook_urls:
            from .webhooks import WebhookDispatcher

            monitor.dispatcher = WebhookDispatcher(monitor, settings)
    slot: ModelSlot = app.state.model
    loader = asyncio.create_task(slot.start(settings, app.state.metrics), name="sentiment-fusion-model-load")
    if not settings.load_in_background or slot.preset is not None:
        await loader
    try:
        yield
    finally:
        loader.cancel()
        await asyncio.gather(loader, return_exceptions=True)
        await slot.close()
        if monitor is not None:
            if monitor.dispatcher is not None:
                await monitor.dispatcher.close()
            monitor.close()
        if fetcher is not None:
            await fetcher.aclose()


def create_app(settings: Settings | None = None, analyzer=None) -> FastAPI:
    """The ASGI app. ``analyzer``: serve this already-loaded model instead of loading one."""
    settings = settings or Settings()
    app = FastAPI(
        title="sentiment-fusion",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # /docs is installed below, with local assets
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.model = ModelSlot(analyzer)
    app.state.images = ImageSources(settings)  # replaced in lifespan, with the URL fetcher if enabled

    errors.install(app)
    for router in (page.router, health.router, predict.router, model.router, metrics.router):
        app.include_router(router)
    if settings.monitor_db is not None:  # monitor mode (serve --db)
        from .routes import dashboard, monitor

        app.include_router(monitor.router)
        app.include_router(dashboard.router)
    app.mount("/static", PageFiles(directory=STATIC_DIR), name="static")
    if settings.docs_enabled:
        docs.install(app)

    # Added innermost first: the request context wraps everything, CORS answers preflights.
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    return app
