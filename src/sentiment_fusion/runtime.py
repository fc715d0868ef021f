"""Inference with ONNX Runtime: :class:`Analyzer` over a model bundle.

Imports numpy, onnxruntime, tokenizers and Pillow only (never torch), so a
serving install stays small. Every component's output is calibrated with the
temperature stored in the manifest.

How the final answer is chosen:
- text only -> the text model; image only -> the image model;
- text and image -> the fusion head when the bundle has one, else the mean of
  the two calibrated distributions.

Targets (``targets=["@united", "Delta"]``) add the sentiment *toward* each target, from the
bundle's ``target`` component: a text model that reads the post's text with the target shown to
it (``text.encoding``), whether or not the target occurs in the text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .bundle import default_bundle_path, read_manifest
from .calibration import softmax
from .component import Component
from .errors import BundleError, InvalidInputError
from .fusion_inputs import column, fusion_inputs
from .labels import LABELS, Sentiment
from .posts import check_post, check_targets, chunks_by_images
from .sessions import Workers, onnx_session
from .text.targets import target_spans

if TYPE_CHECKING:
    from .explain import Explanation

log = logging.getLogger(__name__)

ON_ERROR = ("raise", "return")  # predict_batch: a bad post fails the call, or its error takes its place
IMAGES_PER_CALL = 32  # predict_batch decodes and scores the images of a batch this many at a time


def _scores(probs: np.ndarray) -> dict[str, float]:
    return {label: float(p) for label, p in zip(LABELS, probs, strict=True)}


@dataclass(frozen=True)
class ModalityPrediction:
    """One modality's own calibrated view of a post."""

    sentiment: Sentiment
    scores: dict[str, float]

    def to_dict(self) -> dict:
        return {"sentiment": self.sentiment.title, "scores": dict(self.scores)}


@dataclass(frozen=True)
class TargetPrediction:
    """The sentiment toward one target of a post: ``spans`` are the character offsets ``(start,
    end)`` of each place the text names it (:func:`~sentiment_fusion.text.targets.target_spans`: any
    case and accents, as its ``@handle``, ``#hashtag`` or ``$CASHTAG``); when there are none
    (``found`` is False) the answer still comes from the whole post, read as being about the
    target. ``explanation`` (from :meth:`Analyzer.explain` only): the word weights toward this
    target's verdict."""

    target: str
    spans: list[tuple[int, int]]
    sentiment: Sentiment
    scores: dict[str, float]
    explanation: Explanation | None = None

    @property
    def found(self) -> bool:
        return bool(self.spans)

    @property
    def label(self) -> str:
        return self.sentiment.label

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "spans": [list(span) for span in self.spans],
            "found": self.found,
            "sentiment": self.sentiment.title,
            "scores": dict(self.scores),
            **({"explanation": self.explanation.to_dict()} if self.explanation is not None else {}),
        }


@dataclass(frozen=True)
class Prediction:
    """The answer for one post.

    ``scores`` holds all three calibrated probabilities (summing to 1);
    ``modalities`` holds each given modality's own prediction; ``source`` says
    which model produced the final answer (``fusion``, ``text``, ``image`` or
    ``mean``); ``explanation`` says why (:meth:`Analyzer.explain`; None from ``predict``);
    ``targets`` holds the sentiment toward each target asked for, in the order given (None when
    none were asked for).
    """

    sentiment: Sentiment
    scores: dict[str, float]
    modalities: dict[str, ModalityPrediction] = field(default_factory=dict)
    source: str = ""
    explanation: Explanation | None = None
    targets: list[TargetPrediction] | None = None

    @property
    def label(self) -> str:
        return self.sentiment.label

    @property
    def confidence(self) -> float:
        return self.scores[self.sentiment.label]

    def to_dict(self) -> dict:
        return {
            "sentiment": self.sentiment.title,
            "scores": dict(self.scores),
            "modalities": {name: m.to_dict() for name, m in self.modalities.items()},
            "source": self.source,
            **({"targets": [t.to_dict() for t in self.targets]} if self.targets is not None else {}),
            **({"explanation": self.explanation.to_dict()} if self.explanation is not None else {}),
        }


def _component_file(bundle_dir: Path, spec: dict, role: str, component: str) -> Path:
    try:
        return bundle_dir / spec["files"][role]["path"]
    except KeyError:
        raise BundleError(f"{bundle_dir}: the {component} component names no {role!r} file") from None


class TextModel:
    """Tokenize + run a text graph ``(input_ids, attention_mask) -> (logits, features)``; a
    targeted one (``encoding.target`` set: the bundle's ``target`` component) reads each text
    with its target."""

    def __init__(
        self, bundle_dir: Path, spec: dict, threads: int | None = None, batch_size: int = 32, name: str = "text"
    ):
        from .text.encoding import EncodingConfig, TextEncoder
        from .text.normalize import TextNormalizer

        pre = spec["preprocessing"]
        self.encoder = TextEncoder.from_files(
            _component_file(bundle_dir, spec, "tokenizer", name),
            TextNormalizer.from_config(pre["normalizer"]),
            EncodingConfig(**pre["encoding"]),
        )
        self.session = onnx_session(_component_file(bundle_dir, spec, "graph", name))
        self.workers = Workers(threads)
        self.temperature = float(spec.get("temperature", 1.0))
        self.kind = spec.get("kind", "")
        # Dynamic int8 (bundles <= 1.1.1) quantizes a call's activations with ONE scale for the
        # whole input tensor, so in a batch a text's scores would depend on the other texts in it
        # (on TweetEval val by up to 0.21, flipping 57 of 2,000 labels). Such graphs run one text
        # per call. Batch-invariant int8 graphs (static and per-row scales, training/quantize.py)
        # give a text bit-identical scores alone and in any batch, fp32 graphs the same up to float
        # rounding: both run batched.
        quantization = spec.get("quantization") or {}
        self.one_per_call = bool(quantization.get("kept")) and not quantization.get("batch_invariant")
        self.batch_size = batch_size
        self._inputs = {i.name for i in self.session.get_inputs()}

    @property
    def takes_targets(self) -> bool:
        return self.encoder.config.target is not None

    def run(self, texts: Sequence[str], targets: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(logits [N, 3], features [N, D]); ``targets[i]`` is text i's target (a targeted model).
        The texts are cut into one slice per worker; each worker tokenizes its slice (while the
        others run the graph), sorts it by length and runs it in chunks that keep padding small
        (:func:`length_chunks`)."""
        texts = list(texts)
        aims = list(targets) if targets is not None else None
        slices = self.workers.split(len(texts), max(1, len(texts)))
        parts = self.workers.map(
            lambda part: self._run_slice(
                texts[part.start : part.stop], aims[part.start : part.stop] if aims is not None else None
            ),
            slices,
        )
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _run_slice(self, texts: list[str], targets: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        ids = self.encoder.token_ids(texts, targets)
        order = np.argsort([len(s) for s in ids], kind="stable")
        size = 1 if self.one_per_call else self.batch_size
        logits_parts, feature_parts = [], []
        for chunk in length_chunks([len(ids[i]) for i in order], size):
            input_ids, mask = self.encoder.pad([ids[i] for i in order[chunk.start : chunk.stop]])
            feeds = {"input_ids": input_ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(input_ids)
            chunk_logits, chunk_features = self.session.run(["logits", "features"], feeds)
            logits_parts.append(chunk_logits)
            feature_parts.append(chunk_features)
        logits = np.empty((len(ids), logits_parts[0].shape[1]), np.float32)
        features = np.empty((len(ids), feature_parts[0].shape[1]), np.float32)
        logits[order] = np.concatenate(logits_parts)
        features[order] = np.concatenate(feature_parts)
        return logits, features


def length_chunks(lengths: Sequence[int], batch_size: int, slack: float = 1.2) -> list[range]:
    """Chunks of consecutive texts (``lengths`` sorted ascending) for one graph call each: at most
    ``batch_size`` texts, and a new chunk when a text is more than ``slack`` times (and 4 tokens)
    longer than the chunk's first, so that padding stays small (32 random tweets padded to the
    longest were 40% padding; cut like this, 1.5x the texts per CPU-second). Row-wise graphs make
    every cut free: a text's scores do not depend on it."""
    chunks, start = [], 0
    for i, length in enumerate(lengths):
        if i - start == batch_size or (i > start and length > slack * lengths[start] + 4):
            chunks.append(range(start, i))
            start = i
    if start < len(lengths):
        chunks.append(range(start, len(lengths)))
    return chunks


class ImageModel:
    """Decode + preprocess + MobileNetV2 features + the image sentiment head."""

    def __init__(self, bundle_dir: Path, spec: dict, threads: int | None = None, batch_size: int = 32):
        from .image.encoder import ImageEncoder
        from .image.preprocess import ImagePreprocessor

        self.preprocessor = ImagePreprocessor.from_config(spec["preprocessing"]["image"])
        self.encoder = ImageEncoder(
            _component_file(bundle_dir, spec, "encoder", "image"), self.preprocessor, threads, batch_size
        )
        self.head = onnx_session(_component_file(bundle_dir, spec, "head", "image"))
        self.temperature = float(spec.get("temperature", 1.0))

    def run(self, images: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        features = self.encoder.encode(list(images))
        (logits,) = self.head.run(["logits"], {"features": features})
        return logits, features


class FusionModel:
    """A head over both modalities' features (and logits), with a presence mask."""

    def __init__(self, bundle_dir: Path, spec: dict, threads: int | None = None):
        self.session = onnx_session(_component_file(bundle_dir, spec, "graph", "fusion"))
        self.temperature = float(spec.get("temperature", 1.0))
        self._inputs = [i.name for i in self.session.get_inputs()]

    def run(self, available: dict[str, np.ndarray]) -> np.ndarray:
        missing = [name for name in self._inputs if name not in available]
        if missing:
            raise BundleError(f"the fusion graph needs inputs {missing} that this bundle cannot provide")
        (logits,) = self.session.run(["logits"], {name: available[name] for name in self._inputs})
        return logits


def _build(cls, bundle_dir: Path, components: dict, name: str, *args):
    """The component ``name`` of the bundle, or None; a malformed spec is a BundleError naming it.
    The model is built from the component's record (:class:`Component`), which leaves out what is
    not the model's own (image decode limits an older bundle recorded: the deployment sets those)."""
    if name not in components:
        return None
    try:
        return cls(bundle_dir, Component.from_dict(components[name]).to_dict(), *args)
    except BundleError:
        raise
    except Exception as exc:
        raise BundleError(
            f"{bundle_dir / 'manifest.json'}: the {name} component cannot be built from its "
            f"settings ({type(exc).__name__}: {exc})"
        ) from exc


class Analyzer:
    """Sentiment of posts from text, image, or both.

    >>> from sentiment_fusion import load
    >>> analyzer = load()
    >>> p = analyzer.predict(text="Worst customer service ever")
    >>> p.sentiment.label, round(sum(p.scores.values()), 6)
    ('negative', 1.0)
    """

    def __init__(self, bundle_dir: str | Path, manifest: dict, *, threads: int | None = None, batch_size: int = 32):
        self.path = Path(bundle_dir)
        self.manifest = manifest
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise InvalidInputError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        components = manifest["components"]
        self.text = _build(TextModel, self.path, components, "text", threads, batch_size)
        self.image = _build(ImageModel, self.path, components, "image", threads, batch_size)
        self.fusion = _build(FusionModel, self.path, components, "fusion", threads)
        self.target = _build(TextModel, self.path, components, "target", threads, batch_size, "target")
        if self.target is not None and not self.target.takes_targets:
            raise BundleError(f"{self.path / 'manifest.json'}: the target component's encoding shows no target")
        if self.target is None and self.text is not None and self.text.takes_targets:
            self.target = self.text  # a bundle of one targeted model (train text --target-as): it reads posts alone too

    @classmethod
    def load(cls, path: str | Path | None = None, *, threads: int | None = None, batch_size: int = 32) -> Analyzer:
        """Load a bundle folder (the shipped default when ``path`` is None)."""
        bundle_dir = Path(path) if path is not None else default_bundle_path()
        return cls(bundle_dir, read_manifest(bundle_dir), threads=threads, batch_size=batch_size)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(name for name in ("text", "image") if getattr(self, name) is not None)

    def predict(self, text: str | None = None, image: Any = None, targets: Sequence[str] | None = None) -> Prediction:
        """One post. ``image`` is a path, bytes, a PIL image or an HxWx3 uint8 array; ``targets``
        (brands, products, people) adds the sentiment toward each of them (``Prediction.targets``).

        >>> from sentiment_fusion import load
        >>> p = load().predict(text="The food was great but the service was awful", targets=["food", "Service", "wine"])
        >>> [(t.target, t.spans, t.label) for t in p.targets][:2], p.targets[2].found
        ([('food', [(4, 8)], 'positive'), ('Service', [(27, 34)], 'negative')], False)
        """
        return self.predict_batch([text], [image], targets=None if targets is None else [targets])[0]

    def explain(self, text: str | None = None, image: Any = None, targets: Sequence[str] | None = None) -> Prediction:
        """One post's answer with an ``explanation``: a weight per word, a heat map over the image and
        each modality's contribution, all toward the predicted class (:mod:`sentiment_fusion.explain`);
        with ``targets``, each of ``Prediction.targets`` has its own ``explanation`` (word weights
        toward that target's verdict, from the targeted model).

        >>> from sentiment_fusion import load
        >>> p = load().explain(text="Worst customer service ever")
        >>> p.label, max(p.explanation.words, key=lambda w: w.weight).text
        ('negative', 'Worst')
        """
        from .explain import explain

        return explain(self, text, image, targets)

    def predict_batch(
        self,
        texts: Sequence[str | None] | None = None,
        images: Sequence[Any] | None = None,
        *,
        targets: Sequence[Sequence[str] | None] | None = None,
        on_error: str = "raise",
    ) -> list[Any]:
        """Many posts; ``texts[i]``, ``images[i]`` and ``targets[i]`` belong to post i (None = that
        modality is absent, or no targets for that post).

        A post that cannot be scored (empty text, an undecodable image, a modality the bundle
        lacks: an :class:`InvalidInputError` with a stable ``code``) fails the whole call with
        ``on_error="raise"``; with ``on_error="return"`` its place in the list holds that error
        and every other post is scored as usual. Wrong call shapes (lengths differ, a single
        image where a sequence belongs) always raise.

        >>> from sentiment_fusion import load
        >>> results = load().predict_batch(["great", " "], on_error="return")
        >>> [r.code if isinstance(r, Exception) else r.label for r in results]
        ['positive', 'empty_text']
        """
        if on_error not in ON_ERROR:
            raise InvalidInputError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        texts, images = self._check_batch(texts, images)
        aims = self._check_targets_shape(targets, len(texts))
        results: list[Any] = [self._post_error(*post) for post in zip(texts, images, aims, strict=True)]
        if on_error == "raise":
            _raise_first(results)
        todo = [i for i, result in enumerate(results) if result is None]
        # Images are only known good once decoded, which the image model does for a whole chunk at
        # once: when a chunk fails, its images are decoded one by one to find the bad ones, and the
        # rest of the chunk runs again. Chunks bound that re-run (IMAGES_PER_CALL images at most).
        for chunk in chunks_by_images(todo, [images[i] is not None for i in todo], IMAGES_PER_CALL):
            scored = chunk
            try:
                predictions = self._predict([texts[i] for i in chunk], [images[i] for i in chunk])
            except InvalidInputError:  # an ImageError: undecodable, unsupported, over a limit
                for i in chunk:
                    results[i] = self._image_error(images[i])
                if on_error == "raise":
                    _raise_first(results)
                scored = [i for i in chunk if results[i] is None]
                predictions = self._predict([texts[i] for i in scored], [images[i] for i in scored])
            for i, prediction in zip(scored, predictions, strict=True):
                results[i] = prediction
        asked = [i for i, result in enumerate(results) if isinstance(result, Prediction) and aims[i] is not None]
        answers = self.predict_targets([texts[i] for i in asked], [aims[i] for i in asked])
        for i, targeted in zip(asked, answers, strict=True):
            results[i] = replace(results[i], targets=targeted)
        return results

    def predict_targets(self, texts: Sequence[str], targets: Sequence[Sequence[str]]) -> list[list[TargetPrediction]]:
        """The sentiment toward each of ``targets[i]`` in ``texts[i]`` (already checked), all pairs
        in one batched call of the targeted model."""
        pairs = [(text, aim) for text, aims in zip(texts, targets, strict=True) for aim in aims]
        if not pairs:
            return [[] for _ in texts]
        logits, _ = self.target.run([text for text, _ in pairs], [aim for _, aim in pairs])
        per_text = np.split(softmax(logits, self.target.temperature), np.cumsum([len(aims) for aims in targets])[:-1])
        return [
            [self.target_answer(text, aim, p) for aim, p in zip(aims, probs, strict=True)]
            for text, aims, probs in zip(texts, targets, per_text, strict=True)
        ]

    def target_answer(self, text: str, target: str, probs: np.ndarray) -> TargetPrediction:
        """The answer toward ``target`` in ``text`` from the targeted model's calibrated ``probs``
        (used by :mod:`sentiment_fusion.explain`, which cannot import this module)."""
        return TargetPrediction(target, target_spans(text, target), Sentiment(int(np.argmax(probs))), _scores(probs))

    def _predict(self, texts: list, images: list) -> list[Prediction]:
        """Posts already checked (an undecodable image raises ImageError for the whole call)."""
        n = len(texts)
        outputs = {}
        for name, model, inputs in (("text", self.text, texts), ("image", self.image, images)):
            rows = [i for i, x in enumerate(inputs) if x is not None]
            if rows:
                outputs[name] = (rows, *model.run([inputs[i] for i in rows]))
        return self.answers(n, outputs)

    def answers(self, n: int, outputs: dict[str, tuple[Sequence[int], np.ndarray, np.ndarray]]) -> list[Prediction]:
        """The answers for ``n`` posts from their models' outputs: ``outputs[modality] = (rows,
        logits, features)`` for the posts ``rows`` that have that modality (as in ``fusion_inputs``)."""
        available = fusion_inputs(n, outputs)
        probs = {name: softmax(available[f"{name}_logits"], getattr(self, name).temperature) for name in outputs}
        both = [i for i in range(n) if available["present"][i].all()]
        fused = None
        if both and self.fusion is not None:
            subset = {k: v[both] for k, v in available.items()}
            fused = np.zeros((n, len(LABELS)))
            fused[both] = softmax(self.fusion.run(subset), self.fusion.temperature)
        results = []
        for i in range(n):
            modalities = {name: _modality(p[i]) for name, p in probs.items() if available["present"][i, column(name)]}
            if len(modalities) == 2:
                final, source = (
                    (fused[i], "fusion") if fused is not None else ((probs["text"][i] + probs["image"][i]) / 2, "mean")
                )
            else:
                (source,) = modalities
                final = probs[source][i]
            results.append(Prediction(Sentiment(int(np.argmax(final))), _scores(final), modalities, source))
        return results

    def _check_batch(self, texts, images) -> tuple[list, list]:
        """The call's shape (always raised); each post's own content is :meth:`_post_error`'s."""
        if texts is None and images is None:
            raise InvalidInputError("give texts, images or both")
        if isinstance(texts, str) or _is_one_image(images):
            raise InvalidInputError("predict_batch takes sequences; use predict() for one post")
        images = list(images) if images is not None else None  # generators too
        texts = list(texts) if texts is not None else [None] * len(images)
        images = images if images is not None else [None] * len(texts)
        if len(texts) != len(images):
            raise InvalidInputError(f"{len(texts)} texts but {len(images)} images: give one (or None) per post")
        return texts, images

    def _check_targets_shape(self, targets, n: int) -> list:
        if targets is None:
            return [None] * n
        if isinstance(targets, str):
            raise InvalidInputError("targets takes one list of targets (or None) per post", code="invalid_targets")
        targets = list(targets)
        if len(targets) != n:
            raise InvalidInputError(f"{n} posts but {len(targets)} target lists: give one (or None) per post")
        return targets

    def _post_error(self, text, image, targets=None) -> InvalidInputError | None:
        try:
            check_post(text, image is not None, modalities=self.modalities, model=self.name)
            check_targets(targets, text, has_target_model=self.target is not None, model=self.name)
        except InvalidInputError as error:
            return error
        return None

    def _image_error(self, image: Any) -> InvalidInputError | None:
        """Why ``image`` (None: no image) cannot be decoded, decoding it on its own; None if it can."""
        if image is None:
            return None
        try:
            self.image.preprocessor.decode(image)
        except InvalidInputError as error:
            return error
        return None


def _is_one_image(images: Any) -> bool:
    """A single image where a sequence of them belongs (a 4-D array is a batch and fine)."""
    return (
        isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike))
        or (isinstance(images, np.ndarray) and images.ndim == 3)
        or type(images).__module__.startswith("PIL.")
    )


def _raise_first(results: list) -> None:
    """Raise the first post's error, naming the post when the batch has more than one."""
    for i, result in enumerate(results):
        if isinstance(result, InvalidInputError):
            if len(results) == 1:
                raise result
            raise type(result)(f"post {i}: {result}", code=result.code) from None


def _modality(probs: np.ndarray) -> ModalityPrediction:
    return ModalityPrediction(Sentiment(int(np.argmax(probs))), _scores(probs))
