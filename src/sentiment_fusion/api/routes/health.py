"""GET /healthz (the process answers) and GET /readyz (the model is loaded). Always open."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="Liveness: the process is up")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", response_model=HealthResponse, responses={503: {"model": HealthResponse}},
            summary="Readiness: the model is loaded (503 until then)")
async def readyz(request: Request):
    slot = request.app.state.model
    if slot.service is not None:
        return {"status": "ready", "detail": f"{slot.service.name} {slot.service.version}"}
    detail = f"model failed to load: {slot.error}" if slot.error else "model loading"
    return JSONResponse({"status": "failed" if slot.error else "loading", "detail": detail}, status_code=503,
                        headers={"Retry-After": "5"})
