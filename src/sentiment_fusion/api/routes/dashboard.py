"""GET /dashboard: the live monitor page (monitor mode only). Static HTML + JS + CSS from api/static,
nothing from elsewhere; the script polls ``GET /v1/monitor`` and redraws from the insights reads
when the store changed. The page itself holds no data, so it is open; its reads send the API key
(``#key=...`` in the address, kept in the tab's sessionStorage, or typed into the form it shows)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from .page import PAGE_CSP, STATIC_DIR

router = APIRouter(tags=["monitor"])


@router.get("/dashboard", include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "dashboard.html",
        media_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"},
    )
