import numpy as np
import pytest

from sentiment_fusion.text.encoding import EncodingConfig, TextEncoder
from sentiment_fusion.text.normalize import TextNormalizer
from sentiment_fusion.text.vocab import build_word_tokenizer

TEXTS = ["I loved it, really loved it!", "I hated it.", "meh @bob http://x.y"]


@pytest.fixture
def word_encoder():
    norm = TextNormalizer()
    tok = build_word_tokenizer(norm.normalize_batch(TEXTS), min_frequency=1)
    return TextEncoder(norm, tok, EncodingConfig(max_length=8))


def test_vocabulary_comes_from_training_texts_only(word_encoder):
    vocab = word_encoder.tokenizer.get_vocab()
    assert vocab["[PAD]"] == 0 and vocab["[UNK]"] == 1
    assert "loved" in vocab and "@" in vocab and "user" in vocab  # normalized mention
    assert "bob" not in vocab  # the raw handle never reaches the vocabulary
    ids = word_encoder.token_ids(["unseenword loved"])[0]
    assert ids == [1, vocab["loved"]]


def test_padding_and_mask(word_encoder):
    ids, mask = word_encoder.encode(["I loved it", "meh"])
    assert ids.dtype == np.int64 and ids.shape == mask.shape == (2, 3)
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids[1, 1:].tolist() == [0, 0]


def test_empty_text_gets_an_all_zero_mask(word_encoder):
    ids, mask = word_encoder.encode([""])
    assert ids.shape == (1, 1) and mask.sum() == 0


def test_head_tail_truncation_keeps_start_and_end():
    norm = TextNormalizer()
    words = [f"w{i}" for i in range(40)]
    tok = build_word_tokenizer([" ".join(words)], min_frequency=1)
    enc = TextEncoder(norm, tok, EncodingConfig(max_length=8, truncation="head_tail"))
    kept = [tok.id_to_token(i) for i in enc.token_ids([" ".join(words)])[0]]
    assert kept == ["w0", "w1"] + [f"w{i}" for i in range(34, 40)]
    head = TextEncoder(norm, tok, EncodingConfig(max_length=8, truncation="head"))
    assert [tok.id_to_token(i) for i in head.token_ids([" ".join(words)])[0]] == words[:8]


def test_special_tokens_and_budget():
    from sentiment_fusion.text.transformer import pretrained_minilm_dir

    enc = TextEncoder.from_files(
        pretrained_minilm_dir() / "tokenizer.json",
        TextNormalizer(),
        EncodingConfig(max_length=16, cls_token="[CLS]", sep_token="[SEP]"),
    )
    ids = enc.token_ids(["word " * 100, "hi 😀"])
    assert (
        len(ids[0]) == 16
        and ids[0][0] == enc.tokenizer.token_to_id("[CLS]")
        and ids[0][-1] == enc.tokenizer.token_to_id("[SEP]")
    )
    assert enc.tokenizer.decode(ids[1]) == "hi grinning face"


def test_bad_encoding_config():
    with pytest.raises(ValueError, match="truncation"):
        EncodingConfig(truncation="middle")
    with pytest.raises(ValueError, match="no room"):
        EncodingConfig(max_length=2, cls_token="[CLS]", sep_token="[SEP]")
