"""TweetEval reader on a tiny folder in the cardiffnlp layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiment_fusion.data import read_dataset
from sentiment_fusion.data.tweeteval import read_tweeteval
from sentiment_fusion.errors import DataFormatError
from sentiment_fusion.labels import Sentiment

VAL = [("I hate mondays ", "0"), ("Just a tweet\r", "1"), ("Love it 😍 ", "2")]


def write_split(root: Path, split: str, rows: list[tuple[str, str]]) -> None:
    # cardiffnlp files end every line with "\n" (texts also with a trailing space).
    (root / f"{split}_text.txt").write_text("".join(t + "\n" for t, _ in rows), "utf-8", newline="")
    (root / f"{split}_labels.txt").write_text("".join(label + "\n" for _, label in rows), "utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "sentiment"
    root.mkdir()
    (root / "mapping.txt").write_text("0\tnegative\n1\tneutral\n2\tpositive\n")
    write_split(root, "val", VAL)
    write_split(root, "train", VAL * 2)
    return root


def test_reads_val(folder: Path) -> None:
    ds = read_tweeteval(folder, "val")
    assert [e.id for e in ds] == ["val:1", "val:2", "val:3"]
    assert [e.text for e in ds] == ["I hate mondays", "Just a tweet", "Love it 😍"]
    assert [e.label for e in ds] == list(Sentiment)
    assert ds.classes == tuple(Sentiment) and ds.split == "val"
    assert ds.labels.tolist() == [0, 1, 2] and len(ds.fingerprint) == 64


def test_spec_dev_alias_default_split_limit_and_parent_folder(folder: Path) -> None:
    assert read_dataset(f"tweeteval:{folder}:dev").split == "val"
    assert read_dataset(f"tweeteval:{folder}").split == "train"
    assert len(read_dataset(f"tweeteval:{folder}:train", limit=4)) == 4
    assert len(read_dataset(f"tweeteval:{folder.parent}:val")) == 3  # tweeteval/ root


def test_mapping_is_followed(folder: Path) -> None:
    (folder / "mapping.txt").write_text("0\tpositive\n1\tneutral\n2\tnegative\n")
    assert read_tweeteval(folder, "val")[0].label == Sentiment.POSITIVE


def test_bad_label_names_file_and_line(folder: Path) -> None:
    (folder / "val_labels.txt").write_text("0\n7\n2\n")
    with pytest.raises(DataFormatError, match=r"val_labels\.txt:2: bad label '7'"):
        read_tweeteval(folder, "val")


def test_line_count_mismatch_names_both_files(folder: Path) -> None:
    (folder / "val_labels.txt").write_text("0\n1\n")
    with pytest.raises(DataFormatError, match=r"val_text\.txt has 3 lines.*val_labels\.txt has 2"):
        read_tweeteval(folder, "val")


def test_wrong_encoding_names_file_and_line(folder: Path) -> None:
    (folder / "val_text.txt").write_bytes("ok\ncaf\xe9\nok\n".encode("cp1252"))
    with pytest.raises(DataFormatError, match=r"val_text\.txt:2: not valid utf-8"):
        read_tweeteval(folder, "val")


def test_missing_split_file_and_unknown_split(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"test_text\.txt"):
        read_tweeteval(folder, "test")
    with pytest.raises(ValueError, match="train, val, test"):
        read_dataset(f"tweeteval:{folder}:holdout")
    with pytest.raises(FileNotFoundError, match="nope"):
        read_tweeteval(tmp_path / "nope", "val")
