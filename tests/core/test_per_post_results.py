"""Per-post results: ``predict_batch(..., on_error="return")`` gives each post its Prediction or
its own input error (with a stable ``code``), in one call, and the good posts score exactly as
they do alone. The API, the bulk job and ``evaluate`` all use this one mechanism."""

from __future__ import annotations

import io

import numpy as np
import pytest

from sentiment_fusion.errors import (
    BundleError,
    DataFormatError,
    ImageError,
    ImageTooLargeError,
    InvalidInputError,
    SentimentFusionError,
)
from sentiment_fusion.labels import LABELS
from sentiment_fusion.runtime import Analyzer, Prediction


def jpeg(color, size=(64, 48)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def scores(prediction: Prediction) -> np.ndarray:
    return np.array([prediction.scores[label] for label in LABELS])


def test_every_error_class_has_a_stable_code():
    assert [
        cls.code
        for cls in (
            SentimentFusionError,
            InvalidInputError,
            ImageError,
            ImageTooLargeError,
            DataFormatError,
            BundleError,
        )
    ] == ["error", "invalid_input", "invalid_image", "image_too_large", "invalid_data", "model_unavailable"]
    error = InvalidInputError("text is empty", code="empty_text")
    assert error.code == "empty_text" and str(error) == "text is empty" and isinstance(error, ValueError)
    assert InvalidInputError("x").code == "invalid_input"  # the instance code did not leak into the class


def test_text_posts_return_their_own_errors(tiny_analyzer):
    texts = ["I love this, great day!", "   ", "x" * 20_001, "This is terrible and sad.", "bad \ud800", 7]
    results = tiny_analyzer.predict_batch(texts, on_error="return")
    assert [r.code if isinstance(r, InvalidInputError) else "ok" for r in results] == [
        "ok",
        "empty_text",
        "text_too_long",
        "ok",
        "invalid_text",
        "invalid_text",
    ]
    assert str(results[1]).startswith("text is empty")  # no "post 1:" prefix: the position says which post
    for i in (0, 3):
        alone = tiny_analyzer.predict(text=texts[i])
        assert np.allclose(scores(results[i]), scores(alone), atol=1e-6)
    # The default stays all or nothing, naming the post and keeping its code.
    with pytest.raises(InvalidInputError, match=r"^post 1: text is empty") as raised:
        tiny_analyzer.predict_batch(texts)
    assert raised.value.code == "empty_text"


def test_a_modality_the_bundle_lacks_fails_only_that_post(tiny_analyzer):
    results = tiny_analyzer.predict_batch(["fine", None], [None, jpeg((0, 200, 0))], on_error="return")
    assert isinstance(results[0], Prediction)
    assert results[1].code == "image_not_supported" and "no image component" in str(results[1])


def test_call_shapes_always_raise(tiny_analyzer):
    with pytest.raises(InvalidInputError, match="2 texts but 1 images"):
        tiny_analyzer.predict_batch(["a", "b"], [None], on_error="return")
    with pytest.raises(InvalidInputError, match="on_error must be one of"):
        tiny_analyzer.predict_batch(["a"], on_error="skip")


def test_bad_images_fail_only_their_posts(default_bundle):
    """The real bundle (text, image, fusion): corrupt, truncated and over-limit images among good posts."""
    analyzer = Analyzer.load(default_bundle, threads=1)
    good_image = jpeg((30, 200, 30))
    truncated = jpeg((200, 30, 30), size=(320, 240))[:300]
    texts = ["Loving the new phone", None, "Worst service ever", None, "meh", None]
    images = [
        good_image,
        b"not an image",
        truncated,
        good_image,
        None,
        b"\x00" * (analyzer.image.preprocessor.max_bytes + 1),
    ]
    results = analyzer.predict_batch(texts, images, on_error="return")
    kinds = [r.code if isinstance(r, InvalidInputError) else r.source for r in results]
    assert kinds == ["fusion", "invalid_image", "invalid_image", "image", "text", "image_too_large"]
    for i in (0, 3, 4):  # the good posts score as they do alone
        alone = analyzer.predict(text=texts[i], image=images[i])
        assert np.allclose(scores(results[i]), scores(alone), atol=1e-5)
    with pytest.raises(ImageError, match=r"^post 1: "):
        analyzer.predict_batch(texts, images)


def test_many_images_are_scored_in_chunks_with_the_same_answers(multimodal_analyzer):
    """More images than one decoding chunk (IMAGES_PER_CALL): order and answers are kept."""
    from sentiment_fusion.runtime import IMAGES_PER_CALL

    n = IMAGES_PER_CALL + 5
    colors = [(int(v), 255 - int(v), 90) for v in np.linspace(0, 255, n)]
    images = [jpeg(c) for c in colors]
    images[IMAGES_PER_CALL + 1] = b"broken"
    texts = [None if i % 3 else "a post" for i in range(n)]
    results = multimodal_analyzer.predict_batch(texts, images, on_error="return")
    assert results[IMAGES_PER_CALL + 1].code == "invalid_image"
    for i in (0, 1, IMAGES_PER_CALL, n - 1):
        alone = multimodal_analyzer.predict(text=texts[i], image=images[i])
        assert results[i].source == alone.source and np.allclose(scores(results[i]), scores(alone), atol=1e-5)


def test_evaluate_names_the_bad_example_by_its_id(tiny_analyzer, tmp_path):
    from sentiment_fusion.data import read_dataset
    from sentiment_fusion.evaluation import evaluate

    data = tmp_path / "posts.jsonl"
    data.write_text('{"text": "great", "label": "positive"}\n{"text": "  ", "label": "negative"}\n')
    with pytest.raises(InvalidInputError, match=r"example line:2: text is empty") as raised:
        evaluate(tiny_analyzer, read_dataset(f"jsonl:{data}"), "text")
    assert raised.value.code == "empty_text"
