import numpy as np

from sentiment_fusion.text.word_vectors import minilm_word_vectors

WORDS = [
    "[PAD]",
    "[UNK]",
    "good",
    "great",
    "bad",
    "terrible",
    "movie",
    "film",
    "the",
    "excellent",
    "awful",
    "boring",
    "fun",
    "plot",
    "actor",
    "scene",
    "wonderful",
    "horrible",
    "nice",
    "poor",
]


def test_shape_scale_and_meaning():
    vectors = minilm_word_vectors(WORDS, 16)
    assert vectors.shape == (20, 16) and vectors.dtype == np.float32
    assert np.abs(vectors[:2]).max() < 1.0  # special tokens: small noise, not word vectors
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    index = {w: i for i, w in enumerate(WORDS)}

    def sim(a, b):
        return unit[index[a]] @ unit[index[b]]

    assert sim("movie", "film") > sim("movie", "terrible")
    assert sim("good", "great") > sim("good", "terrible")
