"""GET /v1/model: what model answers, with the metrics it was measured with."""

from __future__ import annotations

from fastapi import APIRouter

from ... import __version__
from ..deps import ApiKey, ServiceDep, SettingsDep
from ..schemas import ModelInfo, _errors

router = APIRouter(tags=["model"], dependencies=[ApiKey], responses=_errors(401, 503))


@router.get("/v1/model", response_model=ModelInfo, summary="The loaded model's manifest summary")
async def model_info(service: ServiceDep, settings: SettingsDep) -> dict:
    manifest = service.manifest
    components = {
        name: {
            "kind": spec.get("kind", ""),
            "temperature": spec.get("temperature"),
            "metrics": list(spec.get("metrics", [])),
        }
        for name, spec in manifest.get("components", {}).items()
    }
    metrics = [{"component": name, **row} for name, c in components.items() for row in c["metrics"]]
    metrics += [dict(row) for row in manifest.get("evaluations", [])]
    return {
        "name": manifest.get("name", service.name),
        "version": manifest.get("version", service.version),
        "package_version": __version__,
        "description": manifest.get("description", ""),
        "created_at": manifest.get("created_at"),
        "labels": list(manifest.get("labels", [])),
        "modalities": list(service.modalities),
        "components": components,
        "metrics": metrics,
        "limits": {
            "max_body_bytes": settings.max_body_bytes,
            "max_image_bytes": settings.max_image_bytes,
            "max_image_pixels": settings.max_image_pixels,
            "max_text_chars": settings.max_text_chars,
            "max_batch_items": settings.max_batch_items,
            "max_targets": settings.max_targets,
            "max_target_chars": settings.max_target_chars,
            "max_explain_targets": settings.max_explain_targets,
            "request_timeout_s": settings.request_timeout_s,
        },
    }
