"""CIFAR-100 reader on small files written in exactly the official python format."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from sentiment_fusion.data.cifar100 import read_cifar100
from sentiment_fusion.errors import DataFormatError
from sentiment_fusion.image.cifar100_sentiment import FINE_LABEL_NAMES, sentiment_of
from sentiment_fusion.labels import Sentiment

COARSE = [f"coarse_{i}".encode() for i in range(20)]


def split_dict(n: int, seed: int, batch_label: bytes) -> dict:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    data[0, :1024] = np.arange(1024) % 256  # red plane of image 0: value = row * 32 + col (mod 256)
    data[0, 1024:2048] = 7  # green
    data[0, 2048:] = 200  # blue
    fine = [int(i) for i in rng.integers(0, 100, n)]
    fine[0] = FINE_LABEL_NAMES.index("snake")
    return {
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
        b"batch_label": batch_label,
        b"fine_labels": fine,
        b"coarse_labels": [f % 20 for f in fine],
        b"data": data,
    }


def meta_dict() -> dict:
    return {b"fine_label_names": [n.encode() for n in FINE_LABEL_NAMES], b"coarse_label_names": COARSE}


def write_members(root: Path, members: dict[str, object]) -> None:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, obj in members.items():
        (folder / name).write_bytes(obj if isinstance(obj, bytes) else pickle.dumps(obj, protocol=2))


def make_tarball(path: Path, members: dict[str, object]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-100-python")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        for name, obj in members.items():
            data = obj if isinstance(obj, bytes) else pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def py2_pickle(obj) -> bytes:
    """Protocol-2 bytes as Python 2's cPickle wrote the official files (str -> SHORT_BINSTRING,
    numpy 1.x arrays via numpy.core.multiarray._reconstruct), opcode by opcode."""

    def enc(o) -> bytes:
        if isinstance(o, dict):
            return b"}(" + b"".join(enc(k) + enc(v) for k, v in o.items()) + b"u"
        if isinstance(o, bytes):
            return (b"U" + bytes([len(o)]) if len(o) < 256 else b"T" + struct.pack("<I", len(o))) + o
        if isinstance(o, int):
            return b"K" + bytes([o]) if 0 <= o < 256 else b"J" + struct.pack("<i", o)
        if isinstance(o, list):
            return b"](" + b"".join(enc(i) for i in o) + b"e"
        assert isinstance(o, np.ndarray) and o.dtype == np.uint8 and o.ndim == 2
        dtype = b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        return (
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R("
            + b"K\x01"
            + enc(o.shape[0])
            + enc(o.shape[1])
            + b"\x86"
            + dtype
            + b"\x89"
            + enc(o.tobytes())
            + b"tb"
        )

    return b"\x80\x02" + enc(obj) + b"."


def official() -> dict[str, object]:
    return {
        "train": split_dict(5, 1, b"training batch 1 of 1"),
        "test": split_dict(3, 2, b"testing batch 1 of 1"),
        "meta": meta_dict(),
    }


@pytest.fixture
def tarball(tmp_path) -> Path:
    return make_tarball(tmp_path / "cifar-100-python.tar.gz", official())


def test_reads_tarball(tarball):
    ds = read_cifar100(tarball, "train")
    assert (ds.name, ds.split, len(ds)) == ("cifar100", "train", 5)
    assert ds.classes == (Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE)
    assert ds.fingerprint == hashlib.sha256(tarball.read_bytes()).hexdigest()
    first = ds[0]
    assert first.image.shape == (32, 32, 3) and first.image.dtype == np.uint8
    assert tuple(first.image[0, 1]) == (1, 7, 200) and tuple(first.image[1, 0]) == (32, 7, 200)  # row-major planes
    assert first.label is Sentiment.NEGATIVE
    assert first.meta["fine_label_name"] == "snake"
    assert first.meta["fine_label"] == FINE_LABEL_NAMES.index("snake")
    assert first.meta["coarse_label"] == first.meta["fine_label"] % 20
    assert first.meta["coarse_label_name"] == COARSE[first.meta["coarse_label"]].decode()
    assert first.meta["filename"] == "img_1_0.png" and first.id == "train/0"
    for ex in ds:
        assert ex.label is sentiment_of(ex.meta["fine_label_name"]) and ex.text is None
    assert len(read_cifar100(tarball, "test")) == 3


def test_images_feed_the_preprocessor(tarball):
    from sentiment_fusion.image import ImagePreprocessor

    batch = ImagePreprocessor()([ex.image for ex in read_cifar100(tarball, "test")])
    assert batch.shape == (3, 224, 224, 3)


def test_extracted_folder_and_its_parent(tmp_path, tarball):
    write_members(tmp_path / "x", official())
    from_tar = read_cifar100(tarball, "test")
    for path in (tmp_path / "x", tmp_path / "x" / "cifar-100-python"):
        ds = read_cifar100(path, "test")
        assert [e.id for e in ds] == [e.id for e in from_tar]
        assert all(np.array_equal(a.image, b.image) for a, b in zip(ds, from_tar, strict=True))
        assert ds.fingerprint and ds.fingerprint != from_tar.fingerprint


def test_python2_pickles_as_officially_shipped(tmp_path, tarball):
    members = {name: py2_pickle(obj) for name, obj in official().items()}
    ds = read_cifar100(make_tarball(tmp_path / "py2.tar.gz", members), "train")
    ref = read_cifar100(tarball, "train")
    assert [(e.id, e.label, e.meta) for e in ds] == [(e.id, e.label, e.meta) for e in ref]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(ds, ref, strict=True))


def test_str_keys_accepted(tmp_path):
    members = official()
    members["test"] = {k.decode(): v for k, v in members["test"].items()}
    assert len(read_cifar100(make_tarball(tmp_path / "c.tar.gz", members), "test")) == 3


def test_through_the_data_spec(tarball):
    from sentiment_fusion.data import read_dataset

    ds = read_dataset(f"cifar100:{tarball}:test")
    assert (ds.name, ds.split, len(ds)) == ("cifar100", "test", 3)


def test_missing_member_names_archive_and_member(tmp_path):
    members = official()
    del members["meta"]
    archive = make_tarball(tmp_path / "c.tar.gz", members)
    with pytest.raises(DataFormatError, match=r"c\.tar\.gz.*cifar-100-python/meta"):
        read_cifar100(archive, "train")


def test_missing_file_in_folder(tmp_path):
    members = official()
    del members["test"]
    write_members(tmp_path, members)
    with pytest.raises(DataFormatError, match="test"):
        read_cifar100(tmp_path, "test")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_archive(tmp_path, tarball, keep):
    data = tarball.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataFormatError, match=r"cut\.tar\.gz.*truncated or corrupt"):
        read_cifar100(cut, "train")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update({b"data": d[b"data"][:, :3000]}), "N x 3072"),
        (lambda d: d.update({b"data": d[b"data"].astype(np.int64)}), "N x 3072"),
        (lambda d: d.update({b"fine_labels": d[b"fine_labels"][:-1]}), "fine_labels"),
        (lambda d: d.update({b"fine_labels": [100] * len(d[b"fine_labels"])}), "fine_labels outside"),
        (lambda d: d.pop(b"coarse_labels"), "coarse_labels"),
        (lambda d: d.pop(b"data"), "'data'"),
    ],
)
def test_wrong_contents_name_the_member(tmp_path, change, message):
    members = official()
    change(members["train"])
    archive = make_tarball(tmp_path / "c.tar.gz", members)
    with pytest.raises(DataFormatError, match=message) as err:
        read_cifar100(archive, "train")
    assert "cifar-100-python/train" in str(err.value)


def test_not_a_pickle_and_unknown_class_names(tmp_path):
    members = official()
    members["test"] = b"this is not a pickle"
    with pytest.raises(DataFormatError, match="not a CIFAR-100 pickle"):
        read_cifar100(make_tarball(tmp_path / "a.tar.gz", members), "test")
    members = official()
    members["meta"] = {b"fine_label_names": [b"unicorn"] + [n.encode() for n in FINE_LABEL_NAMES[1:]]}
    with pytest.raises(DataFormatError, match="unicorn"):
        read_cifar100(make_tarball(tmp_path / "b.tar.gz", members), "test")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickle_cannot_run_code(tmp_path):
    members = official()
    members["test"] = pickle.dumps({b"data": _Evil()})
    with pytest.raises(DataFormatError, match="refusing to load"):
        read_cifar100(make_tarball(tmp_path / "evil.tar.gz", members), "test")


def test_bad_split_and_missing_path(tarball, tmp_path):
    with pytest.raises(ValueError, match="train, test"):
        read_cifar100(tarball, "dev")
    with pytest.raises(FileNotFoundError):
        read_cifar100(tmp_path / "nope.tar.gz", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        read_cifar100(tmp_path / "empty", "train")
