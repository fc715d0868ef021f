"""Word vocabulary for the LSTM, built from training texts only.

It is a ``tokenizers`` WordLevel tokenizer, so the LSTM and the transformer share
one runtime tokenization path (:class:`~sentiment_fusion.text.encoding.TextEncoder`)
and the vocabulary travels in the bundle as a plain ``tokenizer.json``.
"""

from __future__ import annotations

from collections.abc import Iterable

PAD, UNK = "[PAD]", "[UNK]"


def build_word_tokenizer(normalized_texts: Iterable[str], *, vocab_size: int = 30000, min_frequency: int = 2):
    """Train a lowercase word-level tokenizer (words and punctuation) on ``normalized_texts``.

    ``[PAD]`` gets id 0 and ``[UNK]`` id 1; the rest are the most frequent words.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordLevelTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=[PAD, UNK], show_progress=False
    )
    tokenizer.train_from_iterator(normalized_texts, trainer=trainer)
    if tokenizer.token_to_id(PAD) != 0 or tokenizer.token_to_id(UNK) != 1:
        raise RuntimeError("word tokenizer must map [PAD] to 0 and [UNK] to 1")
    return tokenizer
