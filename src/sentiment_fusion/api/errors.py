"""Every error the service returns, and the ONE place that maps exceptions to HTTP answers.

The body is always ``{"error": {"code": "...", "message": "...", "request_id": "..."}}``
(plus ``index`` for a bad batch item). Library errors (:mod:`sentiment_fusion.errors`) become
4xx here and nowhere else; anything unexpected is logged and becomes a JSON 500 (see
:func:`internal_error_response`, used by the request middleware).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import BundleError, SentimentFusionError

log = logging.getLogger(__name__)

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    503: "unavailable",
    504: "timeout",
}
# The library's error codes (``SentimentFusionError.code``) that are not 422 Unprocessable Content.
_STATUS_BY_LIBRARY_CODE = {"image_too_large": 413, "model_unavailable": 503}
_FRAMEWORK_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's words for any body it cannot parse


class APIError(StarletteHTTPException):
    """An answer with a status, a stable ``code`` and a message saying what to fix.

    A subclass of Starlette's HTTPException so that it also passes through the framework when
    raised while the request body is being read (body limits).
    """

    def __init__(self, status_code: int, code: str, message: str, *, headers: dict | None = None, **extra: Any):
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code
        self.message = message
        self.extra = extra


def describe(exc: BaseException) -> APIError | None:
    """The APIError for a known exception; None for a bug."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, SentimentFusionError):  # the library's coded errors
        message = f"the model cannot be used: {exc}" if isinstance(exc, BundleError) else str(exc)
        return APIError(_STATUS_BY_LIBRARY_CODE.get(exc.code, 422), exc.code, message)
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 400 and exc.detail == _FRAMEWORK_PARSE_ERROR:
        return APIError(
            400,
            "malformed_body",
            "the body could not be parsed: it is not valid JSON or form data, or it is nested too deeply",
        )
    if isinstance(exc, StarletteHTTPException):
        return APIError(
            exc.status_code,
            _CODES_BY_STATUS.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=getattr(exc, "headers", None),
        )
    return None


def for_item(exc: BaseException, index: int) -> APIError | None:
    """The same error, naming the batch item it came from."""
    error = describe(exc)
    if error is None:
        return None
    return APIError(error.status_code, error.code, f"items[{index}]: {error.message}", index=index)


def error_body(status: int, code: str, message: str, request_id: str | None = None, **extra: Any) -> dict:
    error = {"code": code, "message": message, **extra}
    if request_id:
        error["request_id"] = request_id
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(error_body(status, code, message, request_id, **extra), status_code=status, headers=headers)


def internal_error_response(request_id: str | None) -> JSONResponse:
    return error_response(
        500,
        "internal_error",
        "an unexpected error happened on the server; it was logged "
        "and the service keeps running (quote the request_id when reporting it)",
        request_id=request_id,
    )


def _request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def validation_message(errors: list[dict]) -> str:
    """``body.text: Input should be a valid string; body.x: Extra inputs are not permitted``."""
    parts = []
    for err in errors[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        for index in (p for p in err.get("loc", ()) if isinstance(p, int)):
            loc = loc.replace(f".{index}", f"[{index}]", 1)
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else err.get("msg", "invalid"))
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "; ".join(parts) + more


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for it alone (install)
    errors = list(exc.errors())
    rid = _request_id(request)
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid")
        reason = (detail.get("ctx") or {}).get("error", "invalid JSON")
        pos = detail.get("loc", ("body", "?"))[-1]
        return error_response(
            400, "malformed_json", f"the body is not valid JSON: {reason} at character {pos}", request_id=rid
        )
    if any(e.get("loc") == ("body",) and isinstance(e.get("input"), bytes) for e in errors):
        return error_response(
            415,
            "unsupported_media_type",
            "send the body as JSON with the header Content-Type: application/json",
            request_id=rid,
        )
    if any(e.get("loc") == ("body",) and e.get("type") == "missing" for e in errors):
        return error_response(
            400, "empty_body", 'the body is empty; send a JSON object such as {"text": "..."}', request_id=rid
        )
    items = [
        e["loc"][2]
        for e in errors
        if e.get("loc", ())[:2] == ("body", "items") and len(e["loc"]) > 2 and isinstance(e["loc"][2], int)
    ]
    # a batch: which item is wrong, as for the service's own checks
    extra: dict[str, Any] = {"index": items[0]} if items else {}
    # "targets" that is not a list of strings: the library's code for bad targets (posts.check_targets)
    code = "invalid_targets" if all("targets" in e.get("loc", ()) for e in errors) else "invalid_request"
    return error_response(422, code, validation_message(errors), request_id=rid, **extra)


async def _known_error_handler(request: Request, exc: Exception) -> JSONResponse:
    error = describe(exc)
    if error is None:  # not reachable: describe() knows every class these handlers are registered for
        raise exc
    if error.status_code >= 500:
        log.warning("%s: %s", error.code, error.message)
    return error_response(
        error.status_code,
        error.code,
        error.message,
        request_id=_request_id(request),
        headers=error.headers,
        **error.extra,
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app`` (called once by ``create_app``)."""
    app.add_exception_handler(RequestValidationError, _validation_handler)
    for cls in (StarletteHTTPException, SentimentFusionError):  # APIError is an HTTPException
        app.add_exception_handler(cls, _known_error_handler)
