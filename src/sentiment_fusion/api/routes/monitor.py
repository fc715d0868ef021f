"""Monitor mode routes (registered only with ``serve --db``): ``POST /v1/posts`` ingests and scores a
batch into the store; ``GET /v1/insights/{summary,trends,alerts,terms,examples}`` read it as the
``insights ... --csv`` tables; ``GET /v1/monitor`` says whether anything changed (the dashboard
polls it).

Ingest answers only after the batch is committed: an acknowledged post is in the file. Bad posts
are rejected one by one (``status: rejected`` with the error code and message); the others are kept.
"""

from __future__ import annotations

import argparse
import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ...errors import InvalidInputError
from ...labels import LABELS
from ...posts import check_post, chunks_by_images
from ..deps import ApiKey, ImagesDep, ServiceDep, SettingsDep, WriteKey
from ..errors import APIError, describe, validation_message
from ..inference import InferenceService, Post
from ..monitor import MonitorStore, image_key, plain_rows, same_post
from ..schemas import ErrorResponse, ModelRef, Scores, SentimentName

_IMAGES_PER_CHUNK = 8
DEFAULT_BRAND = "all"  # as analyze names the posts of a run without a brand


def _errors(*statuses: int) -> dict:
    return {status: {"model": ErrorResponse} for status in statuses}


router = APIRouter(tags=["monitor"])


async def get_monitor(request: Request) -> MonitorStore:
    return request.app.state.monitor


MonitorDep = Annotated[MonitorStore, Depends(get_monitor)]


# --- ingest
class IngestPost(BaseModel):
    """One post of ``POST /v1/posts``."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | StrictInt = Field(..., description="the post's id; a post sent again with the same id replaces it")
    text: str | None = Field(None, description="the post's text (give text, image or both)")
    image: str | None = Field(
        None, description="base64 or a data: URL; an http(s) URL where the operator allows its host"
    )
    created_at: StrictStr | int | float | None = Field(
        None,
        description="ISO 8601, a Twitter-style time or Unix seconds/milliseconds; UTC when no offset. "
        "Absent: the ingest time for a new post, the stored time for a known one",
    )
    brand: str | None = Field(
        None, description=f"the brand it is about; absent: the stored one, else {DEFAULT_BRAND!r}"
    )


class IngestRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"posts": [{"id": "1", "text": "love the new phone", "brand": "apple"}]}],
        },
    )

    posts: list[Any] = Field(
        ...,
        min_length=1,
        description="the posts (objects as IngestPost); a bad one is rejected on its own",
        json_schema_extra={"items": IngestPost.model_json_schema()},
    )


class ItemError(BaseModel):
    code: str
    message: str


class MentionResult(BaseModel):
    brand: str
    spans: list[list[int]] | None = Field(None, description="[start, end) of each place the post names the brand")
    sentiment: SentimentName | None = None
    scores: Scores | None = None


class IngestResult(BaseModel):
    index: int = Field(..., description="the post's position in the request")
    id: str | None = Field(None, description="the post's id (null when it had none)")
    status: Literal["stored", "updated", "unchanged", "rejected"] = Field(
        ...,
        description="stored: new; updated: known, changed, re-scored; unchanged: known and the same "
        "(not counted twice); rejected: see error",
    )
    sentiment: SentimentName | None = None
    scores: Scores | None = None
    mentions: list[MentionResult] | None = Field(
        None, description="with brands (serve --brands or a store that records them): the post's sentiment toward each"
    )
    error: ItemError | None = None


class IngestResponse(BaseModel):
    stored: int
    updated: int
    unchanged: int
    rejected: int
    posts: list[IngestResult]
    model: ModelRef


@dataclass
class _Item:
    index: int
    id: str
    text: str | None
    image: str | None
    created_at: datetime | None
    brand: str | None
    image_key: str | None = None


def _rejected(index: int, post_id: str | None, code: str, message: str) -> dict:
    return {"index": index, "id": post_id, "status": "rejected", "error": {"code": code, "message": message}}


def _validate(index: int, raw: Any, service: InferenceService, settings) -> _Item:
    from ...insights.timestamps import parse_timestamp

    if not isinstance(raw, dict):
        raise _Reject("invalid_post", f"a post is a JSON object, got {type(raw).__name__}")
    post_id = raw.get("id")
    try:
        post = IngestPost.model_validate(raw)
    except ValidationError as exc:
        raise _Reject("invalid_post", validation_message([dict(e) for e in exc.errors()]), post_id) from None
    post_id = str(post.id).strip()
    if not post_id:
        raise _Reject("invalid_id", "id is empty")
    if len(post_id) > settings.monitor_max_id_chars:
        raise _Reject("invalid_id", f"id has {len(post_id)} characters; the limit is {settings.monitor_max_id_chars}")
    brand = post.brand.strip() if post.brand is not None else None
    if brand is not None and not brand:
        raise _Reject("invalid_brand", "brand is empty; leave it out to keep the stored one", post_id)
    if brand is not None and len(brand) > settings.monitor_max_brand_chars:
        raise _Reject(
            "invalid_brand", f"brand has {len(brand)} characters; the limit is {settings.monitor_max_brand_chars}"
        )
    created_at = None
    if post.created_at is not None and post.created_at != "":
        created_at = parse_timestamp(post.created_at)
        if created_at is None:
            raise _Reject(
                "invalid_created_at",
                f"created_at {str(post.created_at)[:40]!r} is not a time (ISO 8601, Twitter-style or Unix seconds)",
                post_id,
            )
        oldest = _utc_naive(settings.monitor_min_created_at)
        latest = _now() + timedelta(seconds=settings.monitor_max_future_s)
        if not oldest <= created_at <= latest:
            raise _Reject(
                "invalid_created_at",
                f"created_at {created_at.isoformat()} (UTC) is outside the accepted times: from "
                f"{oldest.isoformat()} to {settings.monitor_max_future_s:g} s from now",
                post_id,
            )
    try:
        check_post(
            post.text,
            post.image is not None,
            modalities=service.modalities,
            model=service.name,
            max_text_chars=settings.max_text_chars,
        )
    except InvalidInputError as exc:
        raise _Reject(exc.code, str(exc), post_id) from None
    return _Item(index, post_id, post.text, post.image, created_at, brand)


class _Reject(Exception):
    def __init__(self, code: str, message: str, post_id: Any = None) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.post_id = str(post_id) if isinstance(post_id, (str, int)) and not isinstance(post_id, bool) else None


def _error_of(exc: BaseException) -> tuple[str, str]:
    error = describe(exc)
    if error is None:
        raise exc
    return error.code, error.message


def _mention(row: dict) -> dict:
    scores = {k: row[f"p_{k}"] for k in LABELS}
    verdict = _verdict(row["sentiment"], scores) if row["sentiment"] is not None else {}
    return {"brand": row["brand"], "spans": row["spans"], **verdict}


def _verdict(sentiment: str, scores: dict[str, float]) -> dict:
    return {"sentiment": sentiment.capitalize(), "scores": {k: scores[k] for k in LABELS}}


@router.post(
    "/v1/posts",
    response_model=IngestResponse,
    response_model_exclude_none=True,
    dependencies=[WriteKey],
    responses=_errors(400, 401, 403, 413, 415, 422, 503, 504),
    summary="Ingest posts into the monitor's store (scored, idempotent by id)",
)
async def ingest(
    body: IngestRequest, service: ServiceDep, images: ImagesDep, settings: SettingsDep, monitor: MonitorDep
) -> dict:
    """Scores the batch with the micro-batched model and commits it before answering. A post sent
    again with the same id and content is ``unchanged`` (stored once); with a changed text, image,
    brand or time it is re-scored and ``updated``. Bad posts come back ``rejected`` with a reason;
    the others are kept. At most ``monitor_max_posts`` posts per request."""
    if monitor.brands_given and not monitor.mentions_scored(service.analyzer):
        raise APIError(
            503,
            "targets_not_supported",
            f"serve --brands scores each post toward the brands it names, which needs a model with a targeted "
            f"component; {service.name}@{service.version} has none",
        )
    if len(body.posts) > settings.monitor_max_posts:
        raise APIError(
            413, "batch_too_large", f"{len(body.posts)} posts; the limit is {settings.monitor_max_posts} per request"
        )
    results: list[dict | None] = [None] * len(body.posts)
    items: list[_Item] = []
    for index, raw in enumerate(body.posts):
        try:
            items.append(_validate(index, raw, service, settings))
        except _Reject as reject:
            results[index] = _rejected(index, reject.post_id, reject.code, reject.message)
    last = {item.id: item for item in items}  # an id repeated in the batch: the last one is kept
    for item in items:
        if last[item.id] is not item:
            results[item.index] = _rejected(
                item.index, item.id, "duplicate_id", f"post {last[item.id].index} of this batch has the same id (kept)"
            )
    items = [item for item in items if last[item.id] is item]
    version = f"{service.name}@{service.version}"

    async def score() -> list[dict]:
        data: dict[int, bytes] = {}
        keyed = await asyncio.gather(*(_image_key(item, images) for item in items), return_exceptions=True)
        good: list[_Item] = []
        for item, outcome in zip(items, keyed, strict=True):
            if isinstance(outcome, BaseException):
                results[item.index] = _rejected(item.index, item.id, *_error_of(outcome))
            else:
                if outcome[1] is not None:
                    data[item.index] = outcome[1]
                good.append(item)
        known = await monitor.read(lambda view: monitor.existing(view, [item.id for item in good]))
        rows: list[dict] = []
        todo: list[tuple[_Item, dict]] = []
        for item in good:
            old = known.get(item.id)
            row = {
                "post_id": item.id,
                "brand": item.brand or (old["brand"] if old else DEFAULT_BRAND),
                "created_at": item.created_at,
                "text": item.text,
                "image": item.image_key,
                "model_version": version,
            }
            if old is not None and same_post(old, row):
                results[item.index] = {
                    "index": item.index,
                    "id": item.id,
                    "status": "unchanged",
                    **_verdict(old["sentiment"], {k: old[f"p_{k}"] for k in LABELS}),
                }
                continue
            if old is None and row["created_at"] is None:
                row["created_at"] = _now()
            todo.append((item, row))
        for chunk in chunks_by_images(todo, [item.image is not None for item, _ in todo], _IMAGES_PER_CHUNK):
            posts = await asyncio.gather(
                *(_decoded(item, data, service, images) for item, _ in chunk), return_exceptions=True
            )
            ready = [(pair, post) for pair, post in zip(chunk, posts, strict=True) if isinstance(post, Post)]
            for (item, _), post in zip(chunk, posts, strict=True):
                if isinstance(post, BaseException):
                    results[item.index] = _rejected(item.index, item.id, *_error_of(post))
            predictions = await service.predict([post for _, post in ready]) if ready else []
            scored_at = _now()
            for ((item, row), _), prediction in zip(ready, predictions, strict=True):
                if isinstance(prediction, BaseException):
                    results[item.index] = _rejected(item.index, item.id, *_error_of(prediction))
                    continue
                probs = {k: float(prediction.scores[k]) for k in LABELS}
                row.update(
                    sentiment=max(LABELS, key=probs.__getitem__),
                    scored_at=scored_at,
                    **{f"p_{k}": v for k, v in probs.items()},
                )
                rows.append(row)
        return rows

    try:
        rows = await asyncio.wait_for(score(), timeout=settings.monitor_timeout_s)
        if monitor.mention_config is not None:  # the unchanged posts' stored mentions
            same = [r for r in results if r is not None and r["status"] == "unchanged"]
            stored = await monitor.read(lambda view: monitor.mentions_of(view, [r["id"] for r in same]))
            for result in same:
                result["mentions"] = [_mention(m) for m in stored.get(result["id"], [])]
    except asyncio.TimeoutError:
        raise APIError(
            504, "timeout", f"scoring the batch took longer than {settings.monitor_timeout_s:g} s; nothing was stored"
        ) from None
    # shielded: once started, the commit completes even if the client goes away
    statuses, mentions = await monitor.write(monitor.commit, rows, service.analyzer)
    by_id = {item.id: item for item in items}
    for row in rows:
        item = by_id[row["post_id"]]
        result = {
            "index": item.index,
            "id": item.id,
            "status": statuses[row["post_id"]],
            **_verdict(row["sentiment"], {k: row[f"p_{k}"] for k in LABELS}),
        }
        if monitor.mention_config is not None:
            result["mentions"] = [_mention(m) for m in mentions.get(item.id, [])]
        results[item.index] = result
    final = [r for r in results if r is not None]
    assert len(final) == len(results), "every post has an outcome"
    counts = {s: sum(1 for r in final if r["status"] == s) for s in ("stored", "updated", "unchanged", "rejected")}
    return {**counts, "posts": final, "model": {"name": service.name, "version": service.version}}


def _utc_naive(value: datetime) -> datetime:
    from ...insights.timestamps import to_utc_naive

    return to_utc_naive(value)


def _now() -> datetime:
    from ..monitor import utc_now

    return utc_now()


async def _image_key(item: _Item, images) -> tuple[str | None, bytes | None]:
    """The store's ``image`` value of the post, and its bytes when reading them was needed for it
    (inline data); a URL is fetched only when the post has to be scored."""
    if item.image is None:
        return None, None
    value = item.image.strip()
    if value[:8].lower() == "https://" or value[:7].lower() == "http://":
        if images.fetcher is None:
            await images.read(value)  # raises the same url_fetch_disabled error as /v1/predict
        item.image_key = value
        return value, None
    data = await images.read(value)
    item.image_key = image_key(value, data)
    return item.image_key, data


async def _decoded(item: _Item, data: dict[int, bytes], service: InferenceService, images) -> Post:
    image = None
    if item.image is not None:
        raw = data.get(item.index)
        if raw is None:
            raw = await images.read(item.image)
        image = await service.decode(raw)
    return Post(item.text, image)


# --- reads
class InsightsRows(BaseModel):
    rows: list[dict[str, Any]] = Field(
        ..., description="one object per row of `sentiment-fusion insights <view> --csv`, with its column names"
    )


Period = Literal["hour", "day", "week"]


@dataclass
class _Common:
    brand: str | None
    since: datetime | None
    until: datetime | None


def _when(value: str | None, name: str) -> datetime | None:
    from ...insights.timestamps import parse_timestamp

    if value is None or value == "":
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise APIError(422, "invalid_time", f"{name}={value[:40]!r} is not a time (ISO 8601 or Unix seconds)")
    return parsed


async def _common(
    brand: Annotated[str | None, Query(max_length=1000, description="only this brand")] = None,
    since: Annotated[
        str | None, Query(max_length=64, description="only posts created at or after this time (ISO 8601, UTC)")
    ] = None,
    until: Annotated[str | None, Query(max_length=64, description="only posts created before this time")] = None,
) -> _Common:
    start, end = _when(since, "since"), _when(until, "until")
    if start is not None and end is not None and end <= start:
        raise APIError(422, "invalid_time", "until must be after since")
    return _Common(brand, start, end)


CommonDep = Annotated[_Common, Depends(_common)]
_READ: dict[str, Any] = {"dependencies": [ApiKey], "response_model": InsightsRows, "responses": _errors(401, 422, 503)}


async def _rows(monitor: MonitorStore, common: _Common, view: str, **options) -> dict:
    from ...insights.cli import _rows as cli_rows

    args = argparse.Namespace(view=view, brand=common.brand, csv=True, **options)
    rows = await monitor.read(lambda store: cli_rows(args, store), common.since, common.until)
    return {"rows": plain_rows(rows)}


@router.get("/v1/insights/summary", summary="Per brand: posts, shares, net sentiment with its interval", **_READ)
async def insights_summary(monitor: MonitorDep, common: CommonDep) -> dict:
    """The rows of `insights summary --csv`. Columns: brand, posts, scored, errors, first, last,
    negative, neutral, positive (shares), net, net_lo, net_hi (95% interval), labelled, accuracy, model."""
    return await _rows(monitor, common, "summary")


@router.get("/v1/insights/trends", summary="Per brand and period: volume, shares, net sentiment, intervals", **_READ)
async def insights_trends(monitor: MonitorDep, common: CommonDep, period: Period = "day") -> dict:
    """The rows of `insights trends --period P --csv`. Columns: brand, period (its start, UTC), n,
    unique_texts (distinct normalized texts: retweets and copies count once), negative, negative_lo,
    negative_hi, neutral, neutral_lo, neutral_hi, positive, positive_lo, positive_hi (shares with
    Wilson 95% intervals), net, net_lo, net_hi."""
    return await _rows(monitor, common, "trends", period=period)


@router.get("/v1/insights/alerts", summary="Periods that moved significantly against their baseline", **_READ)
async def insights_alerts(
    monitor: MonitorDep,
    common: CommonDep,
    settings: SettingsDep,
    period: Period = "day",
    window: Annotated[int | None, Query(ge=1, le=1000, description="trailing periods (default: the setting)")] = None,
    min_volume: Annotated[int | None, Query(ge=1, description="posts needed (default: the setting)")] = None,
    alpha: Annotated[float | None, Query(gt=0, lt=1, description="significance (default: the setting)")] = None,
    correction: Literal["bh", "bonferroni", "none"] = "bh",
) -> dict:
    """The rows of `insights alerts --period P --window W --min-volume V --alpha A --correction C --csv`.
    Columns: brand, period, metric (negative_share | net_sentiment), value, baseline, change, z, p,
    p_adjusted, n, n_baseline, and what drives it: unique_texts, top_text_posts, top_text_retweets,
    top_text_share, top_text (the period's most repeated text), words (log-odds against the baseline)."""
    return await _rows(
        monitor,
        common,
        "alerts",
        period=period,
        window=window or settings.alert_window,
        min_volume=min_volume or settings.alert_min_volume,
        alpha=alpha or settings.alert_alpha,
        correction=correction,
    )


@router.get("/v1/insights/terms", summary="Characteristic words of each brand's negative and positive posts", **_READ)
async def insights_terms(
    monitor: MonitorDep,
    common: CommonDep,
    settings: SettingsDep,
    k: Annotated[int, Query(ge=1, description="terms per brand and side (at most monitor_max_k)")] = 15,
    min_count: Annotated[int, Query(ge=1)] = 3,
    min_z: float = 1.96,
) -> dict:
    """The rows of `insights terms -k K --min-count C --min-z Z --csv`. Columns: brand, sentiment, rank,
    term, zeta, delta, count, count_other."""
    _check_k(k, settings)
    if not math.isfinite(min_z):
        raise APIError(422, "invalid_request", "min_z must be a finite number")
    return await _rows(monitor, common, "terms", k=k, min_count=min_count, min_z=min_z)


@router.get("/v1/insights/examples", summary="The most confident posts of each brand and sentiment", **_READ)
async def insights_examples(
    monitor: MonitorDep,
    common: CommonDep,
    settings: SettingsDep,
    k: Annotated[int, Query(ge=1, description="posts per brand and sentiment (at most monitor_max_k)")] = 3,
) -> dict:
    """The rows of `insights examples -k K --csv`. Columns: brand, sentiment, confidence, post_id,
    created_at, text."""
    _check_k(k, settings)
    return await _rows(monitor, common, "examples", k=k)


def _check_k(k: int, settings, name: str = "k") -> None:
    if k > settings.monitor_max_k:
        raise APIError(422, "invalid_request", f"{name}={k}; the limit is {settings.monitor_max_k}")


class MonitorState(BaseModel):
    version: str = Field(..., description="changes whenever ingest stores or updates posts")
    posts: int
    brands: list[str]
    period: Period = Field(..., description="the period of the dashboard and of pushed alerts")
    poll_s: float = Field(..., description="how often the dashboard asks")


@router.get(
    "/v1/monitor",
    response_model=MonitorState,
    dependencies=[ApiKey],
    responses=_errors(401),
    summary="The store's state: a version that changes with each ingest",
)
async def monitor_state(monitor: MonitorDep, settings: SettingsDep) -> dict:
    version = monitor.version  # read before the counts: a change in between shows at the next poll

    def counts(view) -> tuple[int, list[str]]:
        (row,) = view.query("SELECT count(*) AS n FROM posts")
        return row["n"], [r["brand"] for r in view.query("SELECT DISTINCT brand FROM posts ORDER BY brand")]

    posts, brands = await monitor.read(counts)
    return {
        "version": version,
        "posts": posts,
        "brands": brands,
        "period": settings.monitor_period,
        "poll_s": settings.dashboard_poll_s,
    }


class AlertWithDrivers(BaseModel):
    model_config = ConfigDict(extra="allow")

    brand: str
    period: str
    metric: str
    words: list[dict[str, Any]] = Field(
        ..., description="log-odds words of the period's negative posts vs the baseline"
    )
    repeated_texts: list[dict[str, Any]] = Field(
        ..., description="the most repeated texts of the period (retweets, copies): posts, retweets, share"
    )
    unique_texts: int = Field(..., description="distinct normalized texts in the period")
    examples: list[dict[str, Any]] = Field(..., description="the period's most negative posts")


class AlertsWithDrivers(BaseModel):
    period: Period
    alerts: list[AlertWithDrivers]


@router.get(
    "/v1/monitor/alerts",
    response_model=AlertsWithDrivers,
    dependencies=[ApiKey],
    responses=_errors(401, 422),
    summary="The latest alerts with what drives them (the dashboard's alert list)",
)
async def monitor_alerts(
    monitor: MonitorDep,
    settings: SettingsDep,
    common: CommonDep,
    period: Period | None = None,
    limit: Annotated[int, Query(ge=1, description="newest alerts first (at most monitor_max_k)")] = 10,
) -> dict:
    """The rows of `insights alerts` (the settings' window, minimum volume and alpha), newest first,
    each with its driving words (log-odds), its most repeated texts and its most negative posts."""
    from ...insights.aggregates import trends
    from ...insights.alert_drivers import alert_drivers
    from ...insights.alerts import AlertConfig, find_alerts

    _check_k(limit, settings, "limit")
    kind = period or settings.monitor_period
    config = AlertConfig(window=settings.alert_window, min_volume=settings.alert_min_volume, alpha=settings.alert_alpha)

    def compute(view) -> list[dict]:
        alerts = find_alerts(trends(view, kind, common.brand, dense=True), config)[:limit]
        return [
            {**alert.to_row(), **_drivers(alert_drivers(view, alert.brand, alert.period, kind, window=config.window))}
            for alert in alerts
        ]

    rows = await monitor.read(compute, common.since, common.until)
    return {"period": kind, "alerts": plain_rows([{k: _deep(v) for k, v in r.items()} for r in rows])}


def _drivers(found: dict) -> dict:
    return {
        "words": found["words"],
        "repeated_texts": found["repeated"],
        "unique_texts": found["unique_texts"],
        "examples": found["examples"],
    }


def _deep(value: Any) -> Any:
    from ..monitor import plain

    if isinstance(value, list):
        return [{k: plain(v) for k, v in item.items()} if isinstance(item, dict) else plain(item) for item in value]
    return value
