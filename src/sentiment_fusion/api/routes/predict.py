"""POST /predict, /v1/predict, /v1/predict/upload, /v1/predict/batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from ...errors import InvalidInputError
from ...posts import check_post, check_targets, chunks_by_images
from ..config import Settings
from ..deps import ApiKey, ImagesDep, ServiceDep, SettingsDep
from ..errors import APIError, for_item
from ..images import ImageSources
from ..inference import InferenceService, Post
from ..schemas import (
    PREDICT_ERRORS,
    BatchRequest,
    BatchResponse,
    PredictRequest,
    PredictResponse,
)

router = APIRouter(tags=["predict"], dependencies=[ApiKey], responses=PREDICT_ERRORS)

# Images of one batch are decoded and scored this many at a time, so a batch of 64 large
# pictures never holds 64 decoded bitmaps at once.
_IMAGES_PER_CHUNK = 8


async def _within_deadline(work: Awaitable[Any], settings: Settings) -> Any:
    try:
        return await asyncio.wait_for(work, timeout=settings.request_timeout_s)
    except asyncio.TimeoutError:
        raise APIError(
            504,
            "timeout",
            f"the request took longer than {settings.request_timeout_s:g} s; send a smaller image or batch, or retry",
        ) from None


def _check(
    text: str | None,
    has_image: bool,
    service: InferenceService,
    settings: Settings,
    targets: list[str] | None = None,
    explain: bool = False,
) -> None:
    """The library's post and targets checks (raising its coded InvalidInputError), before anything
    is read, decoded or queued, with this service's limits."""
    check_post(
        text, has_image, modalities=service.modalities, model=service.name, max_text_chars=settings.max_text_chars
    )
    check_targets(
        targets,
        text,
        has_target_model=service.takes_targets,
        model=service.name,
        max_targets=settings.max_targets,
        max_target_chars=settings.max_target_chars,
    )
    if explain and targets is not None and len(targets) > settings.max_explain_targets:
        raise InvalidInputError(
            f"{len(targets)} targets to explain; the limit is {settings.max_explain_targets} per post "
            "(each costs one model pass per word): send fewer, or leave explain out",
            code="too_many_targets",
        )


async def _post(
    text: str | None,
    image: str | None,
    service: InferenceService,
    images: ImageSources,
    targets: list[str] | None = None,
) -> Post:
    decoded = await service.decode(await images.read(image)) if image is not None else None
    return Post(text, decoded, targets)


def _answer(prediction, service: InferenceService) -> dict:
    return {**prediction.to_dict(), "model": {"name": service.name, "version": service.version}}


async def _score_one(post: Post, service: InferenceService, explain: bool = False) -> dict:
    if explain:
        return _answer(await service.explain(post), service)
    (result,) = await service.predict([post])
    if isinstance(result, BaseException):
        raise result
    return _answer(result, service)


# response_model_exclude_unset: a field the request did not ask for (``explanation``) is left out
# of the answer, not sent as null.
@router.post(
    "/v1/predict",
    response_model=PredictResponse,
    response_model_exclude_unset=True,
    summary="Sentiment of one post (JSON)",
)
async def predict(body: PredictRequest, service: ServiceDep, images: ImagesDep, settings: SettingsDep) -> dict:
    """Text, image (base64 / data: URL) or both; the answer has the final sentiment, the three
    calibrated scores and each modality's own view; with ``"explain": true`` also why; with
    ``"targets": [...]`` also the sentiment toward each target (``targets``)."""
    _check(body.text, body.image is not None, service, settings, body.targets, body.explain)

    async def work() -> dict:
        post = await _post(body.text, body.image, service, images, body.targets)
        return await _score_one(post, service, body.explain)

    return await _within_deadline(work(), settings)


router.add_api_route(
    "/predict",
    predict,
    methods=["POST"],
    response_model=PredictResponse,
    response_model_exclude_unset=True,
    summary="Sentiment of one post (the original design's path; same as /v1/predict)",
    operation_id="predict_legacy",
)


@router.post(
    "/v1/predict/upload",
    response_model=PredictResponse,
    response_model_exclude_unset=True,
    summary="Sentiment of one post (multipart upload)",
)
async def predict_upload(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    text: Annotated[str | None, Form(description="the post's text")] = None,
    image: Annotated[UploadFile | None, File(description="the post's image file")] = None,
    explain: Annotated[bool, Form(description="also say why (true/false)")] = False,
    targets: Annotated[
        list[str] | None,
        Form(description="a target to score the sentiment toward: one `targets` field per target, in order"),
    ] = None,
) -> dict:
    """``multipart/form-data`` with a ``text`` field and/or an ``image`` file (what a browser form sends),
    ``explain=true`` for the explanation, and one ``targets`` field per target (repeated, in order)."""
    await _check_form(request)
    # Browsers send a form's line breaks as CRLF: count them as the JSON route would.
    text = text.replace("\r\n", "\n") if text else None  # an empty form field means "not given"
    if image is not None and not image.filename and not image.size:
        image = None  # a file input left empty
    _check(text, image is not None, service, settings, targets, explain)

    async def work() -> dict:
        decoded = None
        if image is not None:
            data = await image.read(settings.max_image_bytes + 1)
            if len(data) > settings.max_image_bytes:
                raise APIError(
                    413, "image_too_large", f"the uploaded image is over the {settings.max_image_bytes}-byte limit"
                )
            decoded = await service.decode(data)
        return await _score_one(Post(text, decoded, targets), service, explain)

    return await _within_deadline(work(), settings)


_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_FORM_FIELDS = {"text", "image", "explain", "targets"}
_REPEATABLE = {"targets"}  # one field per target


async def _check_form(request: Request) -> None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _FORM_TYPES:
        raise APIError(
            415,
            "unsupported_media_type",
            "send multipart/form-data with a `text` field and/or an `image` file (JSON goes to /v1/predict)",
        )
    names = [name for name, _ in (await request.form()).multi_items()]  # already parsed: cached
    unknown = sorted(set(names) - _FORM_FIELDS)
    if unknown:
        raise APIError(
            422,
            "invalid_request",
            f"unknown form fields {unknown}; the fields are `text`, `image`, `explain` and `targets`",
        )
    repeated = sorted({name for name in names if names.count(name) > 1} - _REPEATABLE)
    if repeated:
        raise APIError(
            422,
            "invalid_request",
            f"form fields sent more than once: {repeated}; one post per request (several go to /v1/predict/batch)",
        )


@router.post(
    "/v1/predict/batch",
    response_model=BatchResponse,
    response_model_exclude_unset=True,
    summary="Sentiment of many posts",
)
async def predict_batch(body: BatchRequest, service: ServiceDep, images: ImagesDep, settings: SettingsDep) -> dict:
    """Up to ``max_batch_items`` posts; the answers come back in the same order. One bad item
    fails the request with a 4xx whose message (and ``index``) names it."""
    items = body.items
    if len(items) > settings.max_batch_items:
        raise APIError(
            422, "batch_too_large", f"{len(items)} items; the limit is {settings.max_batch_items} per request"
        )
    for index, item in enumerate(items):
        try:
            _check(item.text, item.image is not None, service, settings, item.targets)
        except InvalidInputError as exc:
            error = for_item(exc, index)
            if error is None:  # every InvalidInputError has a code; re-raise what would not
                raise
            raise error from None

    async def work() -> dict:
        answers: list[dict] = []
        for chunk in chunks_by_images(items, [it.image is not None for it in items], _IMAGES_PER_CHUNK):
            start = len(answers)
            posts = await asyncio.gather(
                *(_post(it.text, it.image, service, images, it.targets) for it in chunk), return_exceptions=True
            )
            _raise_first(posts, start)
            results = await service.predict([post for post in posts if isinstance(post, Post)])  # all, after the check
            _raise_first(results, start)
            answers.extend(_answer(r, service) for r in results)
        return {"items": answers, "model": {"name": service.name, "version": service.version}}

    return await _within_deadline(work(), settings)


def _raise_first(results: list[Any], offset: int) -> None:
    for index, result in enumerate(results):
        if isinstance(result, BaseException):
            raise (for_item(result, offset + index) or result)
