"""Service settings: one pydantic ``BaseSettings``, every field overridable from the environment.

Each field ``name`` reads ``SENTIMENT_FUSION_<NAME>`` (e.g. ``SENTIMENT_FUSION_MAX_BODY_BYTES``), except
``model_path``: ``SENTIMENT_FUSION_MODEL``, the one model-path setting of the library, the CLI and the service
(``SENTIMENT_FUSION_MODEL_PATH`` still works, deprecated, with a warning);
list fields take comma-separated values (``SENTIMENT_FUSION_API_KEYS=k1,k2``). The defaults are
meant for a service exposed to the open internet: small limits, no server-side paths, no URL
fetching, and a request never runs longer than ``request_timeout_s``.
"""

from __future__ import annotations

import os
import warnings
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ..bundle import MODEL_ENV
from ..posts import MAX_TARGET_CHARS, MAX_TARGETS

MB = 1024 * 1024
ENV_PREFIX = "SENTIMENT_FUSION_"
DEPRECATED_MODEL_ENV = "SENTIMENT_FUSION_MODEL_PATH"  # read as model_path (its env name by the prefix) with a warning

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", protected_namespaces=(), populate_by_name=True
    )

    # --- model: $SENTIMENT_FUSION_MODEL, the setting the library and the CLI read too
    model_path: Path | None = Field(
        None, validation_alias=MODEL_ENV, description="bundle folder; None = the default bundle (the shipped one)"
    )
    load_in_background: bool = Field(
        True, description="start answering /healthz at once; /readyz is 503 until the model is loaded"
    )
    # Threads that run one micro-batch's chunks side by side (sessions.Workers: single-threaded
    # ONNX Runtime sessions, no spinning pool). The runtime's default (one per core, up to 4) beat
    # one thread on 2 cores (bundle 1.6.0, 2026-12-02, alternating load tests: text 560-598 against
    # 467-489 req/s, text + image 111-115 against 89-90 req/s, p99 178-185 against 239-260 ms):
    # one thread left a core idle while the event loop waited on the model. (Before the runtime
    # had Workers, this setting sized ONNX Runtime's own spinning intra-op pool, and 2 halved
    # the service's throughput; that is why it used to be 1.)
    inference_threads: PositiveInt | None = Field(
        None, description="threads per model call (None = the runtime's default: one per core, up to 4)"
    )
    inference_workers: PositiveInt = Field(1, description="micro-batches run at the same time")
    max_micro_batch: PositiveInt = Field(32, description="requests merged into one model call")
    max_queue: PositiveInt = Field(512, description="posts waiting for the model before 503 overloaded")

    # --- limits
    max_body_bytes: PositiveInt = 8 * MB
    max_image_bytes: PositiveInt = 5 * MB
    max_image_pixels: PositiveInt = 25_000_000
    max_text_chars: PositiveInt = 5_000
    max_batch_items: PositiveInt = 64
    # Targets ("targets": [...] on the predict routes): the library's limits, or lower (the library checks its own too).
    max_targets: PositiveInt = Field(MAX_TARGETS, le=MAX_TARGETS, description="targets per post")
    max_target_chars: PositiveInt = Field(MAX_TARGET_CHARS, le=MAX_TARGET_CHARS, description="characters per target")
    max_explain_targets: PositiveInt = Field(
        8, le=MAX_TARGETS, description="targets per post with explain (each costs one model pass per word)"
    )
    request_timeout_s: PositiveFloat = Field(10.0, description="reading, decoding and inference of one request")
    body_timeout_s: PositiveFloat = Field(30.0, description="receiving the request body (slow uploads)")
    header_timeout_s: PositiveFloat = Field(
        10.0, description="receiving a request's headers (`serve` only; a connection that stalls before them is closed)"
    )

    # --- where images may come from besides the request itself
    image_root: Path | None = Field(
        None, description="folder whose files the JSON `image` may name; None = server-side paths are refused"
    )
    url_fetch_enabled: bool = False
    url_allowed_hosts: CommaList = Field(
        default_factory=list, description="exact host names, or '.example.com' for the domain and its subdomains"
    )
    url_timeout_s: PositiveFloat = 5.0
    url_allow_private: bool = Field(False, description="TESTS ONLY: allow loopback/private addresses")

    # --- access
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="accepted X-API-Key values; empty = no auth"
    )
    api_read_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="X-API-Key values with read-only scope: predict and the insights reads, never POST /v1/posts",
    )
    cors_origins: CommaList = Field(default_factory=list)
    docs_enabled: bool = True

    # --- live monitor (`serve --db`): see api/monitor.py and README "Live monitor"
    monitor_db: Path | None = Field(None, description="DuckDB store to ingest into and read from; None = no monitor")
    monitor_brands: Path | None = Field(None, description="brands TOML file (as `analyze --brands`)")
    monitor_max_posts: PositiveInt = Field(100, description="posts per POST /v1/posts request")
    monitor_timeout_s: PositiveFloat = Field(
        60.0, description="reading and scoring one ingest batch (it waits for the model behind the others)"
    )
    monitor_min_created_at: datetime = Field(
        datetime(2000, 1, 1),
        description="older post times are refused (a stray year 1 would stretch every alert baseline over centuries)",
    )
    monitor_max_future_s: PositiveFloat = Field(86_400.0, description="post times further ahead than this are refused")
    monitor_max_id_chars: PositiveInt = 256
    monitor_max_brand_chars: PositiveInt = 100
    monitor_read_threads: PositiveInt = Field(2, description="threads answering the insights reads")
    monitor_max_k: PositiveInt = Field(100, description="the largest k of the terms and examples reads")
    monitor_period: Literal["hour", "day", "week"] = Field(
        "day", description="the period of the dashboard and of pushed alerts"
    )
    alert_window: PositiveInt = Field(7, description="trailing periods in the alert baseline (as insights alerts)")
    alert_min_volume: PositiveInt = 30
    alert_alpha: float = Field(0.05, gt=0, lt=1)
    dashboard_poll_s: PositiveFloat = Field(2.0, description="how often the dashboard asks whether the store changed")
    webhook_urls: CommaList = Field(
        default_factory=list, description="alert webhooks; hosts on url_allowed_hosts, public addresses only"
    )
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key of the X-Sentiment-Fusion-Signature")
    webhook_timeout_s: PositiveFloat = 5.0
    webhook_max_attempts: PositiveInt = 8
    webhook_backoff_s: PositiveFloat = Field(1.0, description="first retry delay; doubled per attempt")
    webhook_max_backoff_s: PositiveFloat = 300.0

    @field_validator("model_path")
    @classmethod
    def _warn_deprecated_env(cls, path: Path | None) -> Path | None:
        old = os.environ.get(DEPRECATED_MODEL_ENV)
        if path is not None and old and str(path) == old and not os.environ.get(MODEL_ENV):
            warnings.warn(f"{DEPRECATED_MODEL_ENV} is deprecated: set {MODEL_ENV} instead", FutureWarning, stacklevel=2)
        return path

    @field_validator("url_allowed_hosts", "cors_origins", "api_keys", "api_read_keys", "webhook_urls", mode="before")
    @classmethod
    def _split_commas(cls, value):
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("url_allowed_hosts")
    @classmethod
    def _lower_hosts(cls, hosts: list[str]) -> list[str]:
        return [h.lower().rstrip(".") for h in hosts]

    @field_validator("image_root")
    @classmethod
    def _resolve_root(cls, root: Path | None) -> Path | None:
        if root is None:
            return None
        resolved = Path(root).expanduser().resolve()
        if not resolved.is_dir():
            raise ValueError(f"image_root {root} is not a folder")
        return resolved

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if self.url_fetch_enabled and not self.url_allowed_hosts:
            raise ValueError(
                "url_fetch_enabled needs url_allowed_hosts (SENTIMENT_FUSION_URL_ALLOWED_HOSTS=a.com,b.org)"
            )
        if self.max_queue < self.max_batch_items:
            raise ValueError(
                f"max_queue ({self.max_queue}) must be >= max_batch_items ({self.max_batch_items}), "
                "or a full batch could never be queued"
            )
        return self

    def api_key_values(self) -> list[bytes]:
        return [key.get_secret_value().encode() for key in self.api_keys]

    def api_read_key_values(self) -> list[bytes]:
        return [key.get_secret_value().encode() for key in self.api_read_keys]
