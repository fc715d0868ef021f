"""The --data spec: parsing, defaults, dispatch and its errors."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from sentiment_fusion.data import (
    DATASET_KINDS,
    Dataset,
    DatasetSpec,
    Example,
    parse_spec,
    read_dataset,
)
from sentiment_fusion.labels import Sentiment


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("imdb:data/aclImdb_v1.tar.gz", ("imdb", "data/aclImdb_v1.tar.gz", None)),
        ("imdb:data/aclImdb:test", ("imdb", "data/aclImdb", "test")),
        ("IMDB:data/aclImdb:TEST", ("imdb", "data/aclImdb", "test")),
        ("tweeteval:t/sentiment:dev", ("tweeteval", "t/sentiment", "val")),
        ("mvsa:m:val", ("mvsa", "m", "dev")),
        ("mvsa:m:all", ("mvsa", "m", "all")),
        ("mvsa:m", ("mvsa", "m", None)),
        ("cifar100:c/cifar-100-python.tar.gz:test", ("cifar100", "c/cifar-100-python.tar.gz", "test")),
        ("jsonl:a/b.jsonl", ("jsonl", "a/b.jsonl", None)),
        ("csv:a/b.txt", ("csv", "a/b.txt", None)),
        ("a/posts.jsonl", ("jsonl", "a/posts.jsonl", None)),
        ("a/posts.JSONL.gz", ("jsonl", "a/posts.JSONL.gz", None)),
        ("a/posts.csv.gz", ("csv", "a/posts.csv.gz", None)),
        ("imdb:C:\\data\\aclImdb", ("imdb", "C:\\data\\aclImdb", None)),  # a drive letter
        ("imdb:data/aclImdb:", ("imdb", "data/aclImdb", None)),
    ],
)
def test_parse_spec(spec: str, expected: tuple) -> None:
    parsed = parse_spec(spec)
    assert (parsed.kind, str(parsed.path), parsed.split) == (expected[0], str(Path(expected[1])), expected[2])


def test_spec_round_trips_through_str() -> None:
    spec = parse_spec("tweeteval:t/sentiment:dev")
    assert parse_spec(str(spec)) == spec == DatasetSpec("tweeteval", Path("t/sentiment"), "val")


def test_colon_in_an_existing_path_is_not_a_split(tmp_path: Path) -> None:
    odd = tmp_path / "run:3"
    odd.mkdir()
    assert parse_spec(f"mvsa:{odd}") == DatasetSpec("mvsa", odd, None)


@pytest.mark.parametrize("spec", ["parquet:x.parquet", "x.txt", "data/folder", ""])
def test_unknown_kind_lists_valid_kinds(spec: str) -> None:
    with pytest.raises(ValueError, match="expected one of") as info:
        parse_spec(spec)
    for kind in DATASET_KINDS:
        assert kind in str(info.value)


@pytest.mark.parametrize(
    "spec, valid",
    [
        ("imdb:x:val", "train, test"),
        ("tweeteval:x:validate", "train, val, test"),
        ("mvsa:x:holdout", "train, dev, test, all"),
        ("cifar100:x:dev", "train, test"),
    ],
)
def test_unknown_split_lists_valid_splits(spec: str, valid: str) -> None:
    with pytest.raises(ValueError, match=valid):
        parse_spec(spec)


def test_split_on_a_table_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"text": "a"}\n')
    with pytest.raises(ValueError, match="no splits"):
        parse_spec(f"jsonl:{path}:train")


def test_missing_path_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not_there"):
        read_dataset(f"tweeteval:{tmp_path / 'not_there'}:val")
    with pytest.raises(ValueError, match="limit"):
        read_dataset(f"tweeteval:{tmp_path}", limit=-1)


def test_cifar100_dispatches_lazily_and_applies_limit(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def read_cifar100(path, split):
        calls.append((Path(path), split))
        examples = [
            Example(id=f"{split}:{i}", image=np.zeros((32, 32, 3), np.uint8), label=Sentiment.NEUTRAL) for i in range(5)
        ]
        return Dataset("cifar100", split, Path(path), examples, tuple(Sentiment), "0" * 64)

    fake = types.ModuleType("sentiment_fusion.data.cifar100")
    fake.read_cifar100 = read_cifar100
    monkeypatch.setitem(sys.modules, "sentiment_fusion.data.cifar100", fake)
    archive = tmp_path / "cifar-100-python.tar.gz"
    archive.write_bytes(b"")
    ds = read_dataset(f"cifar100:{archive}", limit=2)
    assert calls == [(archive, "train")] and len(ds) == 2 and ds.split == "train"


def test_dataset_helpers() -> None:
    examples = [
        Example("a", "x", label=Sentiment.NEGATIVE),
        Example("b", "y"),
        Example("c", "z", label=Sentiment.POSITIVE),
    ]
    ds = Dataset("jsonl", None, Path("p.jsonl"), examples, tuple(Sentiment), "f" * 64)
    assert len(ds) == 3 and ds[1].id == "b" and [e.id for e in ds] == ["a", "b", "c"]
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [0, -1, 2]
    assert ds.label_counts() == {"negative": 1, "neutral": 0, "positive": 1, "unlabelled": 1}
    assert "n=3" in repr(ds) and "'z'" not in repr(ds)
    with pytest.raises(ValueError, match="neutral"):  # a label outside the class set
        Dataset(
            "imdb",
            "test",
            Path("x"),
            [Example("a", "t", label=Sentiment.NEUTRAL)],
            (Sentiment.NEGATIVE, Sentiment.POSITIVE),
            "0" * 64,
        )
