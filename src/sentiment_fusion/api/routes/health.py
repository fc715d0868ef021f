"""GET /healthz (the process answers) and GET /readyz (the model is loaded). Always open."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ... import __version__
from ..schemas import HealthResponse

router = APIRouter(tags=["health"])


def _versions(request: Request) -> dict:
    """What answers: the package, and the bundle once it is loaded (for deploy checks and bug reports)."""
    service = request.app.state.model.service
    model = {"name": service.name, "version": service.version} if service is not None else None
    return {"package_version": __version__, "model": model}


@router.get("/healthz", response_model=HealthResponse, summary="Liveness: the process is up")
async def healthz(request: Request) -> dict:
    return {"status": "ok", **_versions(request)}


@router.get(
    "/readyz",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse}},
    summary="Readiness: the model is loaded (503 until then)",
)
async def readyz(request: Request):
    slot = request.app.state.model
    if slot.service is not None:
        return {"status": "ready", "detail": f"{slot.service.name} {slot.service.version}", **_versions(request)}
    detail = f"model failed to load: {slot.error}" if slot.error else "model loading"
    return JSONResponse(
        {"status": "failed" if slot.error else "loading", "detail": detail, **_versions(request)},
        status_code=503,
        headers={"Retry-After": "5"},
    )
