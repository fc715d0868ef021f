"""IMDB reader on a tiny aclImdb tarball / folder written in the official layout."""

from __future__ import annotations

import io
import logging
import tarfile
from pathlib import Path

import pytest

from sentiment_fusion.data import read_dataset
from sentiment_fusion.data.imdb import read_imdb
from sentiment_fusion.errors import DataFormatError
from sentiment_fusion.labels import Sentiment

# (split, label dir, file name, text); the official archive also has urls_*.txt, unsup/,
# README and vocabulary files, which the reader must ignore.
REVIEWS = [
    ("train", "pos", "10_9.txt", "Great film.<br /><br />Loved it."),
    ("train", "pos", "2_7.txt", "Pretty good — café scenes."),
    ("train", "neg", "0_1.txt", "Awful."),
    ("train", "neg", "1_4.txt", "Meh, too long."),
    ("test", "pos", "0_10.txt", "Masterpiece."),
    ("test", "neg", "0_2.txt", "Boring."),
]
EXTRAS = {
    "aclImdb/README": "Large Movie Review Dataset v1.0",
    "aclImdb/imdb.vocab": "the\nand\n",
    "aclImdb/train/urls_pos.txt": "http://www.imdb.com/title/tt0453418/usercomments\n",
    "aclImdb/train/unsup/0_0.txt": "unlabelled review",
    "aclImdb/train/labeledBow.feat": "9 0:9 1:1\n",
}


def _members() -> dict[str, bytes]:
    files = {f"aclImdb/{s}/{d}/{n}": t.encode("utf-8") for s, d, n, t in REVIEWS}
    files.update({k: v.encode() for k, v in EXTRAS.items()})
    return files


def write_tarball(path: Path, files: dict[str, bytes] | None = None, mode: str = "w:gz") -> Path:
    files = _members() if files is None else files
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_folder(root: Path) -> Path:
    for name, data in _members().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root / "aclImdb"


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    return write_tarball(tmp_path / "aclImdb_v1.tar.gz")


def test_reads_train_split_from_tarball_in_fixed_order(tarball: Path) -> None:
    ds = read_imdb(tarball, "train")
    # (number, neg before pos): classes alternate so a `limit` sees both.
    assert [e.id for e in ds] == ["train/neg/0_1", "train/neg/1_4", "train/pos/2_7", "train/pos/10_9"]
    assert ds.name == "imdb" and ds.split == "train" and len(ds) == 4
    assert ds.classes == (Sentiment.NEGATIVE, Sentiment.POSITIVE)
    assert ds.labels.tolist() == [0, 0, 2, 2]
    assert ds[3].text == "Great film.<br /><br />Loved it."  # raw: no normalisation here
    assert ds[2].text == "Pretty good — café scenes."
    assert ds[3].meta == {"rating": 9}
    assert ds[0].image is None


def test_test_split_and_fingerprint_is_the_tarball_hash(tarball: Path) -> None:
    import hashlib

    ds = read_imdb(tarball, "test")
    assert [(e.id, e.label) for e in ds] == [
        ("test/neg/0_2", Sentiment.NEGATIVE),
        ("test/pos/0_10", Sentiment.POSITIVE),
    ]
    assert ds.fingerprint == hashlib.sha256(tarball.read_bytes()).hexdigest()


def test_folder_and_tarball_give_the_same_examples(tmp_path: Path, tarball: Path) -> None:
    root = write_folder(tmp_path / "extracted")
    from_tar = read_imdb(tarball, "train")
    for path in (root, root.parent):  # aclImdb/ itself or the folder holding it
        from_dir = read_imdb(path, "train")
        assert [(e.id, e.text, e.label, e.meta) for e in from_dir] == [
            (e.id, e.text, e.label, e.meta) for e in from_tar
        ]
        assert len(from_dir.fingerprint) == 64


def test_folder_holding_the_tarball(tarball: Path) -> None:
    assert len(read_dataset(f"imdb:{tarball.parent}:test")) == 2


def test_limit_keeps_first_examples_of_both_classes(tarball: Path) -> None:
    ds = read_dataset(f"imdb:{tarball}", limit=2)
    assert ds.split == "train"  # the default
    assert [e.id for e in ds] == ["train/neg/0_1", "train/neg/1_4"]
    assert len(read_dataset(f"imdb:{tarball}:train", limit=0)) == 0


def test_truncated_tarball_is_a_data_format_error(tmp_path: Path, tarball: Path) -> None:
    half = tmp_path / "half.tar.gz"
    half.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    with pytest.raises(DataFormatError, match=r"half\.tar\.gz.*(truncated|corrupt)"):
        read_imdb(half, "train")


@pytest.mark.parametrize("mode", ["w:bz2", "w:xz", "w"])
def test_other_compressions_and_plain_tar(tmp_path: Path, mode: str) -> None:
    archive = write_tarball(tmp_path / "aclImdb.tar", mode=mode)
    assert [e.id for e in read_imdb(archive, "test")] == ["test/neg/0_2", "test/pos/0_10"]
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataFormatError, match=r"cut\.tar"):
        read_imdb(cut, "train")


def test_plain_tar_cut_between_members_is_an_error(tmp_path: Path) -> None:
    # tarfile itself reads a tar cut exactly at a header as a shorter archive.
    archive = write_tarball(tmp_path / "full.tar", mode="w")
    with tarfile.open(archive) as tar:
        third = tar.getmembers()[2].offset
    cut = tmp_path / "cut.tar"
    cut.write_bytes(archive.read_bytes()[:third])
    with pytest.raises(DataFormatError, match=r"cut\.tar.*end-of-archive"):
        read_imdb(cut, "train")


def test_not_an_archive_is_a_data_format_error(tmp_path: Path) -> None:
    junk = tmp_path / "aclImdb_v1.tar.gz"
    junk.write_bytes(b"this is not a tarball at all" * 40)
    with pytest.raises(DataFormatError, match=r"aclImdb_v1\.tar\.gz"):
        read_imdb(junk, "train")


def test_undecodable_review_names_the_member(tmp_path: Path) -> None:
    files = _members()
    files["aclImdb/train/neg/1_4.txt"] = "caf\xe9".encode("latin-1")
    archive = write_tarball(tmp_path / "bad.tar.gz", files)
    with pytest.raises(DataFormatError, match=r"aclImdb/train/neg/1_4\.txt.*bad\.tar\.gz.*UTF-8"):
        read_imdb(archive, "train")


def test_missing_class_folder_is_an_error(tmp_path: Path) -> None:
    files = {k: v for k, v in _members().items() if "/test/neg/" not in k}
    archive = write_tarball(tmp_path / "nopos.tar.gz", files)
    with pytest.raises(DataFormatError, match="test/neg"):
        read_imdb(archive, "test")


def test_oddly_named_files_are_skipped_with_a_count(tmp_path: Path, caplog) -> None:
    files = _members()
    files["aclImdb/train/pos/notes.txt"] = b"x"
    archive = write_tarball(tmp_path / "odd.tar.gz", files)
    with caplog.at_level(logging.WARNING, logger="sentiment_fusion.data.imdb"):
        assert len(read_imdb(archive, "train")) == 4
    assert "skipped 1" in caplog.text


def test_missing_path_and_bad_split(tmp_path: Path, tarball: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_dataset(f"imdb:{tmp_path / 'nowhere'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="aclImdb"):
        read_imdb(empty)
    with pytest.raises(ValueError, match="train, test"):
        read_dataset(f"imdb:{tarball}:val")
