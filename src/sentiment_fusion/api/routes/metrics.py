"""GET /metrics in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..deps import ApiKey, MetricsDep
from ..schemas import _errors

router = APIRouter(tags=["ops"], dependencies=[ApiKey], responses=_errors(401))


@router.get(
    "/metrics", response_class=Response, summary="Prometheus metrics", responses={200: {"content": {"text/plain": {}}}}
)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type=metrics.content_type)
