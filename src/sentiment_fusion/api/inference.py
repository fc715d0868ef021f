"""The loaded model as the routes see it: decoding and micro-batched inference off the event loop.

Requests are merged greedily: while one micro-batch runs in the inference thread pool, the posts
that arrive wait, and all of them (up to ``max_micro_batch``) go into the next model call. Nobody
waits on a timer, and under load the model sees batches, which is what makes a transformer on
two cores fast. A full queue answers 503 at once instead of letting latency grow without bound;
a request whose deadline passed is dropped from the queue before it reaches the model.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..image.preprocess import ImagePreprocessor
from .config import Settings
from .errors import APIError
from .metrics import Metrics

log = logging.getLogger(__name__)


@dataclass
class Post:
    text: str | None = None
    image: Any = None  # a decoded PIL image (never raw bytes: decoding happened with the API limits)
    targets: list[str] | None = None  # the sentiment toward each of these too (checked by the route)


class InferenceService:
    def __init__(self, analyzer, settings: Settings, metrics: Metrics) -> None:
        self.analyzer = analyzer
        self.metrics = metrics
        self.max_batch = settings.max_micro_batch
        self.max_queue = settings.max_queue
        self.modalities = tuple(analyzer.modalities)
        self.takes_targets = getattr(analyzer, "target", None) is not None  # the bundle has a target component
        self.decoder = self._decoder(analyzer, settings)
        self._infer_pool = ThreadPoolExecutor(settings.inference_workers, thread_name_prefix="sf-infer")
        self._decode_pool = ThreadPoolExecutor(min(4, (os.cpu_count() or 1) + 1), thread_name_prefix="sf-decode")
        self._slots = asyncio.Semaphore(settings.inference_workers)
        self._pending: collections.deque = collections.deque()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._runner = asyncio.create_task(self._dispatch(), name="sentiment-fusion-batcher")

    @staticmethod
    def _decoder(analyzer, settings: Settings) -> ImagePreprocessor | None:
        if "image" not in analyzer.modalities:
            return None
        own = getattr(getattr(analyzer, "image", None), "preprocessor", None)
        base = own if isinstance(own, ImagePreprocessor) else ImagePreprocessor()
        return dataclasses.replace(base, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)

    @property
    def name(self) -> str:
        return self.analyzer.name

    @property
    def version(self) -> str:
        return self.analyzer.version

    @property
    def manifest(self) -> dict:
        return self.analyzer.manifest

    async def decode(self, data: bytes):
        """Encoded bytes -> RGB PIL image, with the byte and pixel limits checked before decoding."""
        if self.decoder is None:
            raise APIError(422, "image_not_supported", f"this model ({self.name}) has no image component; send text")
        return await asyncio.get_running_loop().run_in_executor(self._decode_pool, self.decoder.decode, data)

    async def predict(self, posts: list[Post]) -> list[Any]:
        """One result per post: a Prediction, or the exception that post raised."""
        if len(self._pending) + len(posts) > self.max_queue:
            raise _busy()
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in posts]
        self._pending.extend(zip(posts, futures, strict=True))
        self._wake.set()
        try:
            return list(await asyncio.gather(*futures, return_exceptions=True))
        finally:
            for future in futures:  # a cancelled request (deadline) leaves the queue
                future.cancel()

    async def explain(self, post: Post) -> Any:
        """One post's explained prediction (``Analyzer.explain``: ~30 text and 50 image rows in one
        call, so it runs on its own, not merged into a micro-batch), in the inference pool."""
        if len(self._pending) >= self.max_queue:
            raise _busy()
        loop = asyncio.get_running_loop()
        if post.targets is None:
            return await loop.run_in_executor(self._infer_pool, self.analyzer.explain, post.text, post.image)
        return await loop.run_in_executor(self._infer_pool, self.analyzer.explain, post.text, post.image, post.targets)

    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            while self._pending:
                await self._slots.acquire()
                batch: list[tuple[Post, asyncio.Future]] = []
                while self._pending and len(batch) < self.max_batch:
                    post, future = self._pending.popleft()
                    if not future.done():
                        batch.append((post, future))
                if not batch:
                    self._slots.release()
                    continue
                task = asyncio.create_task(self._execute(batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._wake.clear()  # no await since the queue was seen empty: nothing can slip in

    async def _execute(self, batch: list) -> None:
        posts = [post for post, _ in batch]
        try:
            start = time.perf_counter()
            results = await asyncio.get_running_loop().run_in_executor(self._infer_pool, self._run, posts)
            self.metrics.inference.observe(time.perf_counter() - start)
            self.metrics.batch_size.observe(len(posts))
            for (post, future), result in zip(batch, results, strict=True):
                if not future.done():
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                        self.metrics.posts.labels(
                            "+".join(m for m, v in (("text", post.text), ("image", post.image)) if v is not None)
                        ).inc()
        except BaseException as exc:  # every waiter must hear about it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._slots.release()

    def _run(self, posts: list[Post]) -> list[Any]:
        """In the inference thread: one model call (posts with targets and without merged: the targeted
        pairs run in one call of the target model); a post's input error lands on that post's request."""
        texts, images = [p.text for p in posts], [p.image for p in posts]
        if all(p.targets is None for p in posts):
            return self.analyzer.predict_batch(texts, images, on_error="return")
        return self.analyzer.predict_batch(texts, images, targets=[p.targets for p in posts], on_error="return")

    async def close(self) -> None:
        self._runner.cancel()
        for future in [f for _, f in self._pending]:
            future.cancel()
        self._pending.clear()
        await asyncio.gather(self._runner, *self._tasks, return_exceptions=True)
        self._infer_pool.shutdown(wait=False, cancel_futures=True)
        self._decode_pool.shutdown(wait=False, cancel_futures=True)


def _busy() -> APIError:
    return APIError(503, "overloaded", "the server is busy; retry in a moment", headers={"Retry-After": "1"})


def _warm_up(analyzer) -> None:
    """One tiny prediction per modality, so the first user does not pay ONNX Runtime's first-run cost."""
    from PIL import Image

    text = "warm up" if "text" in analyzer.modalities else None
    image = Image.new("RGB", (32, 32), (128, 128, 128)) if "image" in analyzer.modalities else None
    analyzer.predict(text=text, image=image)


class ModelSlot:
    """Holds the service once the model is loaded (or why it could not be)."""

    def __init__(self, analyzer=None) -> None:
        self.preset = analyzer
        self.service: InferenceService | None = None
        self.error: str | None = None
        self.loading = False

    async def start(self, settings: Settings, metrics: Metrics) -> None:
        """Load (unless an analyzer was given) and start serving; errors are kept, not raised."""
        self.loading = True
        try:
            analyzer = self.preset
            if analyzer is None:
                from ..runtime import Analyzer

                analyzer = await asyncio.to_thread(
                    Analyzer.load,
                    settings.model_path,
                    threads=settings.inference_threads,
                    batch_size=settings.max_micro_batch,
                )
                await asyncio.to_thread(_warm_up, analyzer)
            self.service = InferenceService(analyzer, settings, metrics)
            metrics.model_ready.set(1)
            log.info(
                "model %s %s ready (%s)", self.service.name, self.service.version, ", ".join(self.service.modalities)
            )
        except Exception as exc:  # noqa: BLE001 - a bad bundle keeps the process up and /readyz says why
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("model failed to load: %s", self.error)
        finally:
            self.loading = False

    async def close(self) -> None:
        if self.service is not None:
            await self.service.close()
            self.service = None
