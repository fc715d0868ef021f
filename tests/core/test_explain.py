"""Explanations (sentiment_fusion.explain): words, image grid, modalities, on real and tiny bundles."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from helpers.paths import shared_data
from sentiment_fusion.errors import InvalidInputError
from sentiment_fusion.explain import GRID, MAX_SPANS, cell_boxes, delete, word_spans

TRICKY = "Love it!!! 😍😍 #blessed @bob https://t.co/x?a=1 good good 👨‍👩‍👧 don't :) well-known"


@pytest.fixture(scope="module")
def analyzer(default_bundle):
    from sentiment_fusion.runtime import Analyzer

    return Analyzer.load(default_bundle, threads=1)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    path = shared_data("mvsa_single", "data", "1002.jpg")
    if not path.is_file():
        pytest.skip(f"MVSA-Single is absent: {path}")
    return np.asarray(Image.open(path).convert("RGB").resize((700, 700)))


def _half_grey(photo: np.ndarray, axis: int) -> np.ndarray:
    """The photo's first 3/7 along ``axis`` (1: left, 0: top), grey 128 (the occlusion fill) elsewhere."""
    out = np.full_like(photo, 128)
    if axis == 1:
        out[:, :300] = photo[:, :300]
    else:
        out[:300] = photo[:300]
    return out


def test_word_spans_are_offsets_into_the_text_as_given():
    spans = word_spans(TRICKY)
    assert [TRICKY[a:b] for a, b in spans] == [
        "Love",
        "it",
        "!!!",
        "😍😍",
        "#blessed",
        "@bob",
        "https://t.co/x?a=1",
        "good",
        "good",
        "👨‍👩‍👧",
        "don't",
        ":)",
        "well-known",
    ]
    assert spans == sorted(spans) and all(b <= c for (_, b), (c, _) in itertools.pairwise(spans))
    assert delete(TRICKY, [spans[7]]).split() == TRICKY.replace("good good", "good").split()


def test_long_texts_are_explained_in_runs_of_adjacent_words():
    text = " ".join(f"w{i}," for i in range(100))
    spans = word_spans(text)
    assert len(spans) == MAX_SPANS
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(text[b:c].strip() == "" for (_, b), (c, _) in itertools.pairwise(spans))  # contiguous, nothing skipped


def test_cells_outside_the_models_square_are_unseen():
    boxes = cell_boxes(1400, 400, 224, 256)  # the model sees the central 350 x 350 square
    grid = np.array([box is not None for box in boxes]).reshape(GRID, GRID)
    assert grid[:, 2:5].all() and not grid[:, [0, 1, 5, 6]].any()
    square = cell_boxes(256, 256, 224, 256)
    assert all(box is not None for box in square) and square[0][0] == 0 and square[-1][1] == 224


def test_real_bundle_words(analyzer):
    post = analyzer.explain(text=TRICKY)
    plain = analyzer.predict(text=TRICKY)
    assert post.scores == plain.scores and post.label == plain.label and post.source == "text"
    words = post.explanation.words
    assert all(TRICKY[w.start : w.end] == w.text for w in words) and len(words) == len(word_spans(TRICKY))
    # each weight is exactly the drop of the verdict's probability when that word alone is deleted
    for w in words[:4]:
        alone = analyzer.predict(text=TRICKY[: w.start] + TRICKY[w.end :])
        assert w.weight == pytest.approx(plain.scores[plain.label] - alone.scores[plain.label], abs=1e-6)
    worst = analyzer.explain(text="Worst customer service at the airport today")
    assert worst.label == "negative"
    assert max(worst.explanation.words, key=lambda w: w.weight).text == "Worst"
    assert worst.explanation.image is None and worst.explanation.modalities == {}


@pytest.mark.parametrize("axis", [1, 0], ids=["left-half-decides", "top-half-decides"])
def test_real_bundle_grid_orientation(analyzer, photo, axis):
    image = _half_grey(photo, axis)
    post = analyzer.explain(image=image)
    assert post.scores == analyzer.predict(image=image).scores
    grid = np.array(post.explanation.image.grid)
    assert grid.shape == (GRID, GRID)
    far = grid[:, 4:] if axis == 1 else grid[4:, :]  # cells that are grey already: occluding them changes nothing
    near = grid[:, :3] if axis == 1 else grid[:3, :]
    assert (far == 0).all() and (near != 0).sum() >= 10


def test_real_bundle_overlay_and_modalities(analyzer, photo):
    image = _half_grey(photo, 1)
    post = analyzer.explain(text="Loving this view", image=image)
    # The fusion ensemble ends in a vectorized Log: alone and inside the explanation's batch a
    # score can differ in its last bit (1e-7), well inside batch invariance's 1e-5.
    alone = analyzer.predict(text="Loving this view", image=image).scores
    assert post.source == "fusion" and post.scores == pytest.approx(alone, abs=1e-6)
    overlay = Image.open(io.BytesIO(post.explanation.image.overlay_png))
    assert overlay.format == "PNG" and overlay.size == (512, 512)
    pixels = np.asarray(overlay.convert("RGB")).astype(int)
    assert np.abs(pixels[:, 420:] - 128).max() <= 1  # zero-weight cells are not tinted
    grid = np.array(post.explanation.image.grid)
    r, c = np.unravel_index(np.abs(grid).argmax(), grid.shape)
    cell = pixels[r * 512 // 7 + 20, c * 512 // 7 + 20]
    original = np.asarray(Image.fromarray(image).resize((512, 512)))[r * 512 // 7 + 20, c * 512 // 7 + 20]
    assert np.abs(cell - original).sum() > 30  # the strongest cell is tinted
    effects = post.explanation.modalities
    assert set(effects) == {"text", "image"}
    for effect in effects.values():
        assert sum(effect.scores_without.values()) == pytest.approx(1, abs=1e-5)
        assert effect.contribution == pytest.approx(post.confidence - effect.scores_without[post.label], abs=1e-6)
    assert post.to_dict()["explanation"]["image"]["overlay_png"].startswith("iVBOR")  # base64 PNG


def test_tiny_multimodal_bundle(multimodal_analyzer):
    """A float-input encoder (mean of pixels): the left half decides, grey cells weigh exactly 0."""
    image = np.full((140, 140, 3), 128, np.uint8)
    image[:, :60] = (250, 10, 10)
    post = multimodal_analyzer.explain(text="I love this, great day!", image=image)
    plain = multimodal_analyzer.predict(text="I love this, great day!", image=image)
    assert post.label == plain.label
    assert post.scores == pytest.approx(plain.scores, abs=1e-6)
    grid = np.array(post.explanation.image.grid)
    assert (grid[:, 4:] == 0).all() and (grid[:, :2] != 0).all()
    assert [w.text for w in post.explanation.words] == ["I", "love", "this", ",", "great", "day", "!"]
    assert set(post.explanation.modalities) == {"text", "image"}


def test_tiny_text_bundle_weights_are_deletions(tiny_analyzer):
    text = "This is terrible and sad."
    post = tiny_analyzer.explain(text=text)
    base = post.scores[post.label]
    for w in post.explanation.words:
        alone = tiny_analyzer.predict(text=text[: w.start] + text[w.end :])
        assert w.weight == pytest.approx(base - alone.scores[post.label], abs=1e-5)
    with pytest.raises(InvalidInputError) as error:
        tiny_analyzer.explain(text="hi", image=np.zeros((4, 4, 3), np.uint8))
    assert error.value.code == "image_not_supported"
    with pytest.raises(InvalidInputError) as error:
        tiny_analyzer.explain(text="   ")
    assert error.value.code == "empty_text"
