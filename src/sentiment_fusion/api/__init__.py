"""The HTTP service (FastAPI): ``create_app()`` builds it, ``serve()`` runs it with uvicorn.

Needs the ``[serve]`` extra. See :mod:`.main` for the app, :mod:`.config` for settings.
"""

from __future__ import annotations

__all__ = ["Settings", "create_app", "serve"]


def __getattr__(name: str):
    # Lazy: `import sentiment_fusion.api` must not pull in FastAPI before it is used.
    if name == "create_app":
        from .main import create_app

        return create_app
    if name == "serve":
        from .server import serve

        return serve
    if name == "Settings":
        from .config import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
