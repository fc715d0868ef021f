"""Request and response bodies (separate classes: what clients send is not what they get).

Requests forbid unknown fields so a typo (``"txt"``) is an error, not a silently empty post.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SentimentName = Literal["Negative", "Neutral", "Positive"]

_IMAGE_HELP = (
    "the image as base64 or a data: URL (data:image/jpeg;base64,...); a path under the server's "
    "image folder or an http(s) URL only where the operator enabled them"
)


_TARGETS_HELP = (
    "also the sentiment toward each of these (brands, products, people: `@handle`, `#hashtag` and "
    "`$CASHTAG` forms match too), answered in `targets` in the same order; needs the text and a "
    "model with a target component. At most `max_targets` targets of `max_target_chars` characters "
    "each (GET /v1/model `limits`; by default 32 and 100)"
)


class PostRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="the post's text (give text, image or both)")
    image: str | None = Field(None, description=_IMAGE_HELP)
    targets: list[str] | None = Field(None, description=_TARGETS_HELP)


class PredictRequest(PostRequest):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": "Best concert of my life!!! 🎸"},
                {"text": "Stuck at the airport again", "image": "data:image/png;base64,iVBORw0..."},
                {"text": "Worst customer service ever", "explain": True},
                {"text": "Switched from @united to @delta, best decision ever", "targets": ["United", "Delta"]},
            ]
        },
    )

    explain: bool = Field(
        False,
        description="also say why: word weights, an image heat map and each modality's "
        "contribution (`explanation`); costs one model pass per word and 50 image passes. With "
        "`targets`, each target's answer gets its own `explanation` too (at most `max_explain_targets` "
        "targets, by default 8: one more pass per word and target)",
    )


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[PostRequest] = Field(
        ...,
        min_length=1,
        description="posts, each with text, image or both (explanations are for one post at a time: /v1/predict)",
    )


class Scores(BaseModel):
    negative: float = Field(..., ge=0, le=1)
    neutral: float = Field(..., ge=0, le=1)
    positive: float = Field(..., ge=0, le=1)


class ModalityView(BaseModel):
    sentiment: SentimentName
    scores: Scores


class ModelRef(BaseModel):
    name: str
    version: str


class WordWeight(BaseModel):
    text: str = Field(..., description="the word exactly as in the post: text[start:end]")
    start: int = Field(..., ge=0, description="offset of its first character in the text as sent (Unicode code points)")
    end: int = Field(..., ge=0, description="offset just past its last character")
    weight: float = Field(
        ...,
        description="drop of the verdict's probability when the word is deleted "
        "(positive: toward the verdict, negative: against it)",
    )


class HeatMap(BaseModel):
    grid: list[list[float]] = Field(
        ...,
        description="7 rows (top first) of 7 cells (left first) covering the whole "
        "image as sent: the verdict's probability drop when the cell is greyed out",
    )
    overlay_png: str = Field(
        ..., description="base64 PNG of the image with the grid over it (red: toward the verdict, blue: against)"
    )


class ModalityEffect(BaseModel):
    contribution: float = Field(..., description="how much the verdict's probability drops without this modality")
    scores_without: Scores = Field(..., description="the fused scores with this modality left out")


class Explanation(BaseModel):
    label: str = Field(..., description="the class every weight points toward (the verdict)")
    words: list[WordWeight] = Field(..., description="every word, hashtag, mention, URL, emoji and punctuation run")
    image: HeatMap | None = Field(None, description="null for a post without an image")
    modalities: dict[str, ModalityEffect] = Field(..., description="for posts with text and image; else empty")


class TargetAnswer(BaseModel):
    target: str = Field(..., description="the target as sent")
    spans: list[list[int]] = Field(
        ...,
        description="[start, end] offsets (Unicode code points) of each place the text names the target, "
        "in any case and accents, as written or as its @handle / #hashtag / $CASHTAG (a name's words apart, "
        "joined or hyphenated, an apostrophe in any form or none); empty when it does not",
    )
    found: bool = Field(..., description="whether the text names the target (spans is not empty)")
    sentiment: SentimentName = Field(
        ..., description="the sentiment toward the target (from the whole post, read as being about it, when not found)"
    )
    scores: Scores = Field(..., description="calibrated probabilities of the sentiment toward the target")
    explanation: Explanation | None = Field(
        None,
        description="with explain: word weights toward this target's verdict (from the targeted text model; "
        "image null, modalities empty)",
    )


class PredictResponse(BaseModel):
    sentiment: SentimentName = Field(..., description="the final answer")
    scores: Scores = Field(..., description="calibrated probabilities, summing to 1")
    modalities: dict[str, ModalityView] = Field(..., description="each given modality's own view")
    source: str = Field(..., description="which model gave the final answer: fusion, text, image or mean")
    model: ModelRef
    explanation: Explanation | None = Field(None, description="why (only when the request asked for it with explain)")
    targets: list[TargetAnswer] | None = Field(
        None, description="the sentiment toward each target asked for, in the order given (only when asked for)"
    )


class BatchResponse(BaseModel):
    items: list[PredictResponse]
    model: ModelRef


class ComponentInfo(BaseModel):
    kind: str
    temperature: float | None = None
    metrics: list[dict] = Field(default_factory=list)


class ModelInfo(BaseModel):
    name: str = Field(..., description="the loaded bundle's name")
    version: str = Field(..., description="the loaded bundle's version")
    package_version: str = Field(..., description="the sentiment-fusion package serving it")
    description: str = ""
    created_at: str | None = None
    labels: list[str]
    modalities: list[str]
    components: dict[str, ComponentInfo]
    metrics: list[dict] = Field(default_factory=list, description="every measured metric, with data, split and n")
    limits: dict[str, float] = Field(default_factory=dict, description="this server's input limits")


class HealthResponse(BaseModel):
    status: str
    detail: str | None = None
    package_version: str | None = Field(None, description="the sentiment-fusion package serving")
    model: ModelRef | None = Field(None, description="the loaded bundle; null until it is loaded")


class ErrorDetail(BaseModel):
    code: str = Field(..., description="stable machine-readable code, e.g. invalid_base64")
    message: str = Field(..., description="what is wrong and how to fix it")
    request_id: str | None = None
    index: int | None = Field(None, description="the bad item of a batch")


class ErrorResponse(BaseModel):
    error: ErrorDetail


def _errors(*statuses: int) -> dict:
    return {status: {"model": ErrorResponse} for status in statuses}


PREDICT_ERRORS = _errors(400, 401, 403, 408, 413, 415, 422, 503, 504)
