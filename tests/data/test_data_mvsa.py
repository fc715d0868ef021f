"""MVSA-Single reader on a tiny folder: data/<id>.txt|jpg, labelResultAll.txt, splits/."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PIL import Image

from sentiment_fusion.data import read_dataset
from sentiment_fusion.data.mvsa import pair_label, read_mvsa
from sentiment_fusion.errors import DataFormatError
from sentiment_fusion.labels import Sentiment

N, U, P = Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE
LABELS = {  # id -> "text,image" as in labelResultAll.txt
    "1": "neutral,positive",  # -> positive
    "2": "negative,negative",  # -> negative
    "3": "positive,neutral",  # -> positive
    "4": "positive,negative",  # contradictory -> dropped
    "5": "neutral,neutral",  # -> neutral
}
SPLITS = {"train": ["1", "2", "3"], "dev": ["5"], "test": ["6"]}  # 6: blind, no label
TEXTS = {
    "1": b"How I feel today #gym",
    "2": "Rain \u2019again\u2019 \u2026".encode("cp1252"),  # curly quotes: not UTF-8
    "3": "Caf\xe9 time".encode(),
    "4": b"mixed feelings",
    "5": b"a photo\n",
    "6": b"blind test post",
}


def write_mvsa(root: Path, with_splits: bool = True) -> Path:
    (root / "data").mkdir(parents=True)
    for item_id, text in TEXTS.items():
        (root / "data" / f"{item_id}.txt").write_bytes(text)
        Image.new("RGB", (4, 4), (200, 30, 30)).save(root / "data" / f"{item_id}.jpg")
    lines = ["ID\ttext,image"] + [f"{i}\t{lab}" for i, lab in LABELS.items()]
    (root / "labelResultAll.txt").write_text("\n".join(lines) + "\n")
    if with_splits:
        (root / "splits").mkdir()
        for split, ids in SPLITS.items():
            (root / "splits" / f"{split}.txt").write_text("".join(i + "\n" for i in ids))
    return root


@pytest.fixture
def mvsa(tmp_path: Path) -> Path:
    return write_mvsa(tmp_path / "mvsa_single")


def test_pair_label_rule() -> None:
    assert pair_label(P, P) == P and pair_label(U, U) == U
    assert pair_label(U, N) == N and pair_label(P, U) == P
    assert pair_label(P, N) is None and pair_label(N, P) is None


def test_train_split_with_encoding_fallback(mvsa: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="sentiment_fusion.data.mvsa"):
        ds = read_mvsa(mvsa, "train")
    assert [e.id for e in ds] == ["1", "2", "3"]
    assert [e.label for e in ds] == [P, N, P]
    assert ds[1].text == "Rain \u2019again\u2019 \u2026"  # cp1252 decoded, not mojibake
    assert ds[2].text == "Caf\xe9 time"
    assert ds[0].image == mvsa / "data" / "1.jpg" and ds[0].image.is_absolute()
    assert ds[0].meta == {"text_label": "neutral", "image_label": "positive"}
    assert ds[1].meta["text_encoding"] == "cp1252"
    assert "1 text files were not UTF-8; decoded as cp1252 (1)" in caplog.text
    assert ds.classes == tuple(Sentiment) and len(ds.fingerprint) == 64


def test_dev_default_and_val_alias(mvsa: Path) -> None:
    ds = read_dataset(f"mvsa:{mvsa}:val")
    assert ds.split == "dev" and [(e.id, e.label, e.text) for e in ds] == [("5", U, "a photo")]
    assert read_dataset(f"mvsa:{mvsa}").split == "train"


def test_blind_test_split_has_no_labels(mvsa: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="sentiment_fusion.data.mvsa"):
        ds = read_mvsa(mvsa, "test")
    assert [e.id for e in ds] == ["6"] and ds[0].label is None and ds[0].meta == {}
    assert ds.labels.tolist() == [-1] and not ds.is_labelled
    assert "no label" in caplog.text


def test_all_without_splits_drops_contradictory_pairs(tmp_path: Path, caplog) -> None:
    root = write_mvsa(tmp_path / "plain", with_splits=False)
    with caplog.at_level(logging.INFO, logger="sentiment_fusion.data.mvsa"):
        ds = read_mvsa(root)  # no splits/: every labelled id
    assert ds.split == "all"
    assert [e.id for e in ds] == ["1", "2", "3", "5"]
    assert "dropped 1 positive+negative" in caplog.text
    with pytest.raises(FileNotFoundError, match="splits"):
        read_mvsa(root, "train")


def test_limit(mvsa: Path) -> None:
    assert [e.id for e in read_dataset(f"mvsa:{mvsa}:train", limit=2)] == ["1", "2"]


def test_missing_image_names_it(mvsa: Path) -> None:
    (mvsa / "data" / "2.jpg").unlink()
    with pytest.raises(DataFormatError, match=r"2\.jpg: missing.*train\.txt"):
        read_mvsa(mvsa, "train")


def test_bad_label_names_file_and_line(mvsa: Path) -> None:
    (mvsa / "labelResultAll.txt").write_text("ID\ttext,image\n1\tneutral,positive\n2\tgood,bad\n")
    with pytest.raises(DataFormatError, match=r"labelResultAll\.txt:3: bad label"):
        read_mvsa(mvsa, "train")
    (mvsa / "labelResultAll.txt").write_text("ID\ttext,image\n1\tneutral\n")
    with pytest.raises(DataFormatError, match=r"labelResultAll\.txt:2: expected"):
        read_mvsa(mvsa, "train")


def test_unsafe_id_in_split_file(mvsa: Path) -> None:
    (mvsa / "splits" / "dev.txt").write_text("5\n../../etc/passwd\n")
    with pytest.raises(DataFormatError, match=r"dev\.txt:2: bad id"):
        read_mvsa(mvsa, "dev")


def test_unknown_split_and_missing_folder(mvsa: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train, dev, test, all"):
        read_dataset(f"mvsa:{mvsa}:holdout")
    with pytest.raises(FileNotFoundError, match="missing_dir"):
        read_dataset(f"mvsa:{tmp_path / 'missing_dir'}")
