"""Run the service with uvicorn: ``serve(host, port, workers, model)``; ``main(argv)`` for ``python app.py``.

Each uvicorn worker is its own process with its own model and reads its settings from the
environment, which is why ``--model`` travels as ``SENTIMENT_FUSION_MODEL`` (the one model-path
setting, as for the library and the CLI). ``serve``'s flags are defined here once
(:func:`add_serve_arguments`) for ``sentiment-fusion serve`` and ``python app.py``. FastAPI,
uvicorn and pydantic-settings are imported inside :func:`serve`, so the CLI that imports this
module still starts (and says what to install) without the ``[serve]`` extra.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..bundle import MODEL_ENV
from ..errors import SentimentFusionError

APP_FACTORY = "sentiment_fusion.api.main:create_app"


class SettingsError(SentimentFusionError, ValueError):
    """A serve option or SENTIMENT_FUSION_* setting that cannot be used."""

    code = "invalid_settings"


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    model: str | Path | None = None,
    log_level: str = "info",
    db: str | Path | None = None,
    brands: str | Path | None = None,
) -> None:
    """Serve until interrupted. ``host`` defaults to loopback: pass ``0.0.0.0`` to expose it.
    ``db``: monitor mode over that store (``SENTIMENT_FUSION_MONITOR_DB``), one worker only."""
    try:
        import uvicorn
        from pydantic import ValidationError

        from .config import Settings
    except ImportError as exc:
        raise ImportError(f"serving needs the [serve] extra: pip install 'sentiment-fusion[serve]' ({exc})") from exc
    from .http_protocol import protocol_class
    from .logs import log_config

    if workers < 1:
        raise SettingsError(f"--workers must be >= 1, got {workers}")
    if not 0 <= port <= 65535:
        raise SettingsError(f"--port must be in 0..65535, got {port}")
    if model is not None:
        model = Path(model).expanduser().resolve()
        if not model.is_dir():
            raise SettingsError(f"model bundle folder not found: {model}")
        os.environ[MODEL_ENV] = str(model)
    if db is not None:
        os.environ["SENTIMENT_FUSION_MONITOR_DB"] = str(Path(db).expanduser().resolve())
    if brands is not None:
        if not Path(brands).is_file():
            raise SettingsError(f"--brands file not found: {brands}")
        os.environ["SENTIMENT_FUSION_MONITOR_BRANDS"] = str(Path(brands).expanduser().resolve())
    try:
        settings = Settings()  # fail here, with one clear message, rather than in every worker
    except ValidationError as exc:
        raise SettingsError(f"invalid SENTIMENT_FUSION_* setting: {exc}") from None
    if settings.monitor_db is not None:
        _check_monitor(settings, workers)
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics then adds up the workers' numbers (prometheus_client multiprocess mode).
        metrics_dir = tempfile.mkdtemp(prefix="sentiment-fusion-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config(log_level),
            http=protocol_class(),
            access_log=False,
            server_header=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=10,
        )
    finally:
        if metrics_dir is not None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_monitor(settings, workers: int) -> None:
    """DuckDB lets one process write a file: monitor mode runs one worker, and the store must open."""
    if workers > 1:
        raise SettingsError(
            f"--db (monitor mode) needs --workers 1, got {workers}: DuckDB lets one process write "
            f"{settings.monitor_db}, and every ingest goes through that one writer"
        )
    from ..insights.brands import BrandsFileError, load_brands
    from ..insights.store import PostStore, StoreError
    from .webhooks import WebhookURLError, check_webhook_url

    try:
        for url in settings.webhook_urls:
            check_webhook_url(url, settings)
        if settings.monitor_brands is not None:
            load_brands(settings.monitor_brands)
        PostStore(settings.monitor_db).close()  # creates a new store, checks an old one
    except (StoreError, BrandsFileError, WebhookURLError) as exc:
        raise SettingsError(str(exc)) from None


def add_serve_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--host --port --workers --model --log-level`` (``--log-level`` None = info)."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0 to expose it; default loopback)"
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes, each with its own model (default 1)"
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help=f"model bundle folder (default: ${MODEL_ENV}, else the shipped default bundle)",
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="monitor mode: ingest (POST /v1/posts) into this DuckDB store, serve its insights and /dashboard",
    )
    parser.add_argument("--brands", type=Path, default=None, help="brands TOML file (as analyze --brands)")
    parser.add_argument("--log-level", default=None, choices=["debug", "info", "warning", "error"], help="default info")
    return parser


def build_parser() -> argparse.ArgumentParser:
    return add_serve_arguments(
        argparse.ArgumentParser(prog="app.py", description="Serve the sentiment-fusion HTTP API.")
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        serve(args.host, args.port, args.workers, args.model, args.log_level or "info", args.db, args.brands)
    except (SentimentFusionError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
