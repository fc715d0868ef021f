"""Explanations on the inference path: which words, which image regions and which modality made a verdict.

Method: occlusion, scored through the bundle's own ONNX graphs in batches. Every weight is a drop
in the calibrated probability of the predicted class (positive: toward the verdict, negative:
against it) when one piece of the post is taken away:

- a word (:func:`word_spans`: words, hashtags, mentions, URLs, emoji, punctuation runs such as
  "!!!" or ":)") is deleted from the text;
- an image cell (:func:`cell_boxes`: a ``GRID x GRID`` split of the whole image as given, top
  row first) is painted the preprocessing mean (grey 128, the zero the encoder's input is
  normalised around) where the model's input pixels cover it; cells outside the central square
  the model sees weigh exactly 0;
- a modality is left out of the fusion head (trained with modality dropout, so "absent" is an
  input it knows), or out of the mean for a bundle without one.

Targets (``explain(..., targets=["United", "Delta"])``): each target's answer is explained the same
way, by the model that gave it (the bundle's ``target`` component): a word's weight is the drop of
the probability of *that target's* predicted class when the word is deleted from the text (the
target itself still asked about). Each :class:`~sentiment_fusion.runtime.TargetPrediction` gets
its own :class:`Explanation` (``words`` only: the targeted model reads no image); the post's
``explanation`` stays the post's. Cost: one targeted pass per word and target, all in one call.

Why occlusion and not gradients: the shipped text graph is int8 (an fp32 twin with a gradient
would explain another model), and occlusion measures exactly what the faithfulness benchmark
asks (what happens when these words or regions are removed) where a gradient is a first-order
guess that saturates with the softmax. Cost: one pass per word (``MAX_SPANS`` at most: longer
texts are explained in that many runs of adjacent words) and per grid cell (``GRID**2`` + the
original = 50 image passes), run in batches; batch-invariant graphs (bundle 1.2.0) give every
variant exactly the scores it would get alone.
"""

from __future__ import annotations

import base64
import io
import itertools
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .calibration import softmax
from .fusion_inputs import fusion_inputs, without
from .posts import check_post, check_targets

# ``analyzer`` below is a runtime.Analyzer (not imported: runtime imports this module, and the
# layers test forbids import cycles).

GRID = 7  # image cells per side: 49 occlusions + the original = 50 encoder passes
# Words explained one by one (97% of TweetEval val tweets have fewer); a longer text: this many runs of words.
MAX_SPANS = 32
OVERLAY_SIDE = 512  # the overlay PNG's longest side at most (pixels)

# URLs, @mentions / #hashtags / $cashtags, words (with inner apostrophes and hyphens), and runs of
# everything else that is not a space (punctuation, emoticons, emoji: split further below).
_UNIT = re.compile(r"(?:https?://|www\.)\S+|[@#$]\w+|\w+(?:['’-]\w+)*|[^\w\s]+", re.IGNORECASE)


@dataclass(frozen=True)
class Word:
    """A piece of the text as given (``text == post[start:end]``) and its weight."""

    text: str
    start: int
    end: int
    weight: float

    def to_dict(self) -> dict:
        return {"text": self.text, "start": self.start, "end": self.end, "weight": self.weight}


@dataclass(frozen=True)
class HeatMap:
    """``grid[r][c]``: the weight of row r (top first), column c (left first) of the whole image."""

    grid: list[list[float]]
    overlay_png: bytes  # the image as given (at most OVERLAY_SIDE px) with the grid over it

    def to_dict(self) -> dict:
        return {"grid": self.grid, "overlay_png": base64.b64encode(self.overlay_png).decode("ascii")}


@dataclass(frozen=True)
class ModalityEffect:
    """What the answer would be without one modality, and how much the verdict's probability drops."""

    contribution: float
    scores_without: dict[str, float]

    def to_dict(self) -> dict:
        return {"contribution": self.contribution, "scores_without": dict(self.scores_without)}


@dataclass(frozen=True)
class Explanation:
    """Why a post got its verdict (``label``); every weight is toward that class."""

    label: str
    words: list[Word] = field(default_factory=list)
    image: HeatMap | None = None
    modalities: dict[str, ModalityEffect] = field(default_factory=dict)  # posts with text and image only

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "words": [w.to_dict() for w in self.words],
            "image": self.image.to_dict() if self.image is not None else None,
            "modalities": {name: m.to_dict() for name, m in self.modalities.items()},
        }


def word_spans(text: str, max_spans: int = MAX_SPANS) -> list[tuple[int, int]]:
    """``(start, end)`` of each word of ``text`` in order; at most ``max_spans`` (runs of adjacent
    words beyond that). An emoji is a word of its own; a run of one emoji repeated is one word (the
    normalizer shortens such runs, so deleting one of them would change nothing)."""
    spans: list[tuple[int, int]] = []
    for match in _UNIT.finditer(text):
        start, end = match.span()
        if text[start].isalnum() or text[start] in "@#$_" or match.group().lower().startswith(("http", "www.")):
            spans.append((start, end))
        else:
            spans.extend(_symbol_spans(text, start, end))
    if len(spans) <= max_spans:
        return spans
    cuts = np.linspace(0, len(spans), max_spans + 1).round().astype(int)
    return [(spans[a][0], spans[b - 1][1]) for a, b in itertools.pairwise(cuts)]


def _symbol_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A run of punctuation and emoji -> its emoji and the punctuation between them."""
    import emoji

    spans: list[tuple[int, int]] = []
    pos, last = start, None
    for found in emoji.emoji_list(text[start:end]):
        a, b = start + found["match_start"], start + found["match_end"]
        if a > pos:
            spans.append((pos, a))
        if last == found["emoji"] and spans and spans[-1][1] == a:
            spans[-1] = (spans[-1][0], b)  # the same emoji again: one word
        else:
            spans.append((a, b))
        pos, last = b, found["emoji"]
    if pos < end:
        spans.append((pos, end))
    return spans


def delete(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without the characters of ``spans``."""
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + text[end:]
    return text


def cell_boxes(
    width: int, height: int, size: int, resize: int, grid: int = GRID
) -> list[tuple[int, int, int, int] | None]:
    """The cells of a ``grid x grid`` split of a ``width x height`` image, row by row (top first),
    each as the box ``(top, bottom, left, right)`` of the model's ``size x size`` input it covers,
    or None when the model does not see it (the input is the central ``size/resize`` square,
    :class:`~sentiment_fusion.image.preprocess.ImagePreprocessor`)."""
    side = min(width, height) * size / resize
    left, top = (width - side) / 2, (height - side) / 2

    def span(i: int, extent: int, offset: float) -> tuple[int, int]:
        a, b = ((k * extent / grid - offset) * size / side for k in (i, i + 1))
        return round(min(max(a, 0), size)), round(min(max(b, 0), size))

    boxes: list[tuple[int, int, int, int] | None] = []
    for r in range(grid):
        y0, y1 = span(r, height, top)
        for c in range(grid):
            x0, x1 = span(c, width, left)
            boxes.append((y0, y1, x0, x1) if y1 > y0 and x1 > x0 else None)
    return boxes


def occlude(pixels: np.ndarray, boxes: list[tuple[int, int, int, int]], fill: np.ndarray) -> np.ndarray:
    """A copy of uint8 ``pixels [size, size, 3]`` with ``boxes`` painted ``fill``."""
    out = pixels.copy()
    for y0, y1, x0, x1 in boxes:
        out[y0:y1, x0:x1] = fill
    return out


def image_cells(analyzer: Any, image: Any) -> tuple[Any, np.ndarray, list[tuple[int, int, int, int] | None]]:
    """The image decoded (what the grid covers: a PIL RGB image), the model's uint8 input pixels
    ``[size, size, 3]``, and the grid's cells in those pixels (:func:`cell_boxes`)."""
    preprocessor = analyzer.image.preprocessor
    picture = preprocessor.decode(image)
    width, height = picture.size
    return picture, preprocessor.pixels(picture), cell_boxes(width, height, preprocessor.size, preprocessor.resize)


def mean_fill(analyzer: Any) -> np.ndarray:
    """The colour of an occluded cell: the preprocessing mean (the encoder's zero input)."""
    return np.round(np.asarray(analyzer.image.preprocessor.mean)).astype(np.uint8)


def run_pixels(analyzer: Any, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image model on uint8 input pixels ``[B, size, size, 3]`` -> (logits, features)."""
    image = analyzer.image
    batch = pixels if image.encoder.takes_pixels else image.preprocessor.normalize(pixels)
    features = image.encoder.encode_pixels(batch)
    (logits,) = image.head.run(["logits"], {"features": features})
    return logits, features


def explain(analyzer: Any, text: str | None = None, image: Any = None, targets: Any = None) -> Any:
    """The post's :class:`~sentiment_fusion.runtime.Prediction` with its ``explanation``
    (:class:`Explanation`) and, for ``targets``, each target's answer with its own explanation
    (:func:`explain_targets`). See the module docstring for the method."""
    check_post(text, image is not None, modalities=analyzer.modalities, model=analyzer.name)
    aims = check_targets(targets, text, has_target_model=analyzer.target is not None, model=analyzer.name)
    spans = word_spans(text) if text is not None else []
    outputs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if text is not None:
        outputs["text"] = analyzer.text.run([text, *(delete(text, [span]) for span in spans)])
    boxes: list = []
    if image is not None:
        picture, pixels, boxes = image_cells(analyzer, image)
        fill = mean_fill(analyzer)
        variants = [occlude(pixels, [box], fill) for box in boxes if box is not None]
        outputs["image"] = run_pixels(analyzer, np.stack([pixels, *variants]))
    # Row 0 is the post itself; then one row per deleted word (the image as given), then one per
    # occluded cell (the text as given).
    n_words, n_cells = len(spans), sum(box is not None for box in boxes)
    rows = {"text": [0] * (1 + n_words + n_cells), "image": [0] * (1 + n_words + n_cells)}
    rows["text"][1 : 1 + n_words] = range(1, 1 + n_words)
    rows["image"][1 + n_words :] = range(1, 1 + n_cells)
    n = 1 + n_words + n_cells
    answers = analyzer.answers(
        n, {name: (range(n), logits[rows[name]], features[rows[name]]) for name, (logits, features) in outputs.items()}
    )
    post = answers[0]
    probs = np.array([answer.scores[post.label] for answer in answers])
    drops = (probs[0] - probs[1:]).astype(float)
    words = (
        [Word(text[a:b], a, b, round(float(w), 6)) for (a, b), w in zip(spans, drops[:n_words], strict=True)]
        if text
        else []
    )
    heat = None
    if image is not None:
        weights = iter(drops[n_words:])
        flat = [round(float(next(weights)), 6) if box is not None else 0.0 for box in boxes]
        grid = [flat[r * GRID : (r + 1) * GRID] for r in range(GRID)]
        heat = HeatMap(grid, overlay_png(picture, grid))
    effects = _modality_effects(
        analyzer, post, {name: (logits[:1], features[:1]) for name, (logits, features) in outputs.items()}
    )
    explained = replace(post, explanation=Explanation(post.label, words, heat, effects))
    if aims is not None:
        assert text is not None  # check_targets: targets need the text
        explained = replace(explained, targets=explain_targets(analyzer, text, aims))
    return explained


def explain_targets(analyzer: Any, text: str, targets: list[str]) -> list[Any]:
    """The sentiment toward each of ``targets`` in ``text`` (checked already), each
    :class:`~sentiment_fusion.runtime.TargetPrediction` with an ``explanation`` whose word weights
    point toward that target's own verdict: the targeted model runs on the text and on the text
    without each word, for every target, in one batched call."""
    spans = word_spans(text)
    variants = [text, *(delete(text, [span]) for span in spans)]
    logits, _ = analyzer.target.run(
        [variant for _ in targets for variant in variants], [aim for aim in targets for _ in variants]
    )
    probs = softmax(logits, analyzer.target.temperature).reshape(len(targets), len(variants), -1)
    answers = []
    for aim, rows in zip(targets, probs, strict=True):
        verdict = int(np.argmax(rows[0]))
        drops = rows[0, verdict] - rows[1:, verdict]
        words = [Word(text[a:b], a, b, round(float(w), 6)) for (a, b), w in zip(spans, drops, strict=True)]
        answer = analyzer.target_answer(text, aim, rows[0])
        answers.append(replace(answer, explanation=Explanation(answer.label, words)))
    return answers


def _modality_effects(analyzer: Any, post: Any, outputs: dict) -> dict[str, ModalityEffect]:
    """For a post with both modalities: the answer with each left out and the verdict's drop."""
    if len(outputs) < 2:
        return {}
    effects = {}
    inputs = fusion_inputs(1, {name: ([0], logits, features) for name, (logits, features) in outputs.items()})
    for name in outputs:
        if analyzer.fusion is not None:
            scores = softmax(analyzer.fusion.run(without(inputs, name)), analyzer.fusion.temperature)[0]
            scores_without = {label: float(p) for label, p in zip(post.scores, scores, strict=True)}
        else:  # the mean of two views: without one, the other's own view
            (other,) = set(outputs) - {name}
            scores_without = dict(post.modalities[other].scores)
        drop = post.scores[post.label] - scores_without[post.label]
        effects[name] = ModalityEffect(round(float(drop), 6), scores_without)
    return effects


def overlay_png(picture: Any, grid: list[list[float]]) -> bytes:
    """PNG of ``picture`` (a PIL RGB image) under the grid: red toward the verdict, blue against,
    the stronger the more opaque (the largest |weight| at 60%)."""
    from PIL import Image

    base = picture.copy()
    base.thumbnail((OVERLAY_SIDE, OVERLAY_SIDE))
    weights = np.asarray(grid, np.float32)
    scale = float(np.abs(weights).max()) or 1.0
    rgba = np.zeros((*weights.shape, 4), np.uint8)
    rgba[..., 0] = np.where(weights > 0, 230, 30)
    rgba[..., 1] = 40
    rgba[..., 2] = np.where(weights > 0, 30, 230)
    rgba[..., 3] = np.round(np.abs(weights) / scale * 153).astype(np.uint8)
    heat = Image.fromarray(rgba, "RGBA").resize(base.size, Image.Resampling.NEAREST)
    out = io.BytesIO()
    Image.alpha_composite(base.convert("RGBA"), heat).convert("RGB").save(out, format="PNG")
    return out.getvalue()
