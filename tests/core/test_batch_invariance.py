"""The shipped bundle gives a post the same scores alone and inside any batch, while its graphs run batched.

Real tweets (TweetEval val) and real MVSA-Single pairs: each post is scored alone and inside
batches of 32 others drawn at random (text-only, image-only and fused posts mixed), and the
scores must agree within 1e-5 (they agree to the bit: every op of the graphs is row-wise)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.paths import DEFAULT_BUNDLE, shared_data
from sentiment_fusion.labels import LABELS

pytestmark = pytest.mark.data


class CountingSession:
    """An ONNX Runtime session that counts its calls and the rows of each (the real session runs)."""

    def __init__(self, session) -> None:
        self.session, self.rows = session, []

    def run(self, outputs, feeds):
        self.rows.append(len(next(iter(feeds.values()))))
        return self.session.run(outputs, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


@pytest.fixture(scope="module")
def analyzer():
    from sentiment_fusion import load

    return load(DEFAULT_BUNDLE)


@pytest.fixture(scope="module")
def posts():
    """80 real tweets and 24 real MVSA-Single (text, image) pairs."""
    from sentiment_fusion.data import read_dataset

    tweets = read_dataset(f"tweeteval:{shared_data('tweeteval', 'sentiment')}:val", limit=80).examples
    pairs = read_dataset(f"mvsa:{shared_data('mvsa_single')}:dev", limit=24).examples
    texts = [e.text for e in tweets] + [e.text for e in pairs] + [None] * len(pairs)
    images = [None] * len(tweets) + [e.image for e in pairs] + [e.image for e in pairs]
    return texts, images  # text-only, fused, image-only


def scores(predictions) -> np.ndarray:
    return np.array([[p.scores[k] for k in LABELS] for p in predictions])


def test_graphs_run_batched(analyzer):
    assert not analyzer.text.one_per_call and analyzer.text.batch_size == 32
    counting = CountingSession(analyzer.text.session)
    analyzer.text.session = counting
    try:
        analyzer.predict_batch(["good"] * 40)
    finally:
        analyzer.text.session = counting.session
    # 40 texts: length-sorted chunks of at most 32, at least one per worker thread, run side by side
    assert sum(counting.rows) == 40 and max(counting.rows) <= 32
    assert len(counting.rows) == max(2, min(analyzer.text.workers.threads, 40))


@pytest.mark.slow
def test_a_posts_scores_do_not_depend_on_its_batch_mates(analyzer, posts):
    texts, images = posts
    n = len(texts)
    alone = scores([analyzer.predict(text=t, image=i) for t, i in zip(texts, images, strict=True)])
    rng = np.random.default_rng(0)
    for _ in range(3):
        order = rng.permutation(n)
        for start in range(0, n, 33):  # each post inside a batch of up to 32 others
            rows = order[start : start + 33]
            together = scores(analyzer.predict_batch([texts[i] for i in rows], [images[i] for i in rows]))
            np.testing.assert_allclose(together, alone[rows], rtol=0, atol=1e-5)
    # And the same posts with very different batch-mates: one long review-like text pads the batch.
    long = "an utterly dreadful, boring film that wasted two hours of my life " * 30
    for i in (0, 81, n - 1):
        together = scores(
            analyzer.predict_batch([texts[i], long] * 16 + [texts[i]], [images[i], None] * 16 + [images[i]])
        )
        np.testing.assert_allclose(together[::2], np.repeat(alone[i : i + 1], 17, axis=0), rtol=0, atol=1e-5)
