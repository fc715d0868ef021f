"""The readers on the real data in ../shared/data (skipped when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.paths import SHARED_DATA
from sentiment_fusion.data import read_dataset
from sentiment_fusion.labels import Sentiment

DATA = SHARED_DATA

pytestmark = [
    pytest.mark.data,
    pytest.mark.slow,  # reads the whole IMDB test archive and the MVSA folders
    pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}"),
]


def need(relative: str) -> Path:
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


def test_tweeteval_val() -> None:
    ds = read_dataset(f"tweeteval:{need('tweeteval/sentiment')}:val")
    assert len(ds) == 2000
    assert {e.label for e in ds} == set(Sentiment)
    assert all(e.text for e in ds)


def test_mvsa_single_splits_and_blind_test() -> None:
    root = need("mvsa_single")
    sizes = {}
    for split in ("train", "dev", "test"):
        ds = read_dataset(f"mvsa:{root}:{split}")
        sizes[split] = len(ds)
        assert all(isinstance(e.image, Path) and e.image.suffix == ".jpg" for e in ds)
        if split == "test":
            assert all(e.label is None for e in ds)
        else:
            assert ds.is_labelled and {e.label for e in ds} == set(Sentiment)
    assert sizes == {"train": 3611, "dev": 450, "test": 450}


def test_mvsa_multiple_dev_jsonl() -> None:
    ds = read_dataset(str(need("mvsa_multiple/dev.jsonl")))
    assert len(ds) == 1700 and ds.is_labelled
    assert set(ds[0].meta) == {"text_label", "image_label"}


def test_imdb_test_from_tarball() -> None:
    ds = read_dataset(f"imdb:{need('imdb/aclImdb_v1.tar.gz')}:test")
    assert len(ds) == 25000
    assert ds.label_counts() == {"negative": 12500, "positive": 12500}
    assert ds.classes == (Sentiment.NEGATIVE, Sentiment.POSITIVE)
