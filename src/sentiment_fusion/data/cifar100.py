"""CIFAR-100 (Krizhevsky, 2009), python version, read as it ships, with sentiment labels.

Source: the official ``cifar-100-python.tar.gz`` (members ``cifar-100-python/{train,test,meta}``)
or its extracted ``cifar-100-python/`` folder (or the folder holding it). Each split file is a
pickled dict (bytes keys, as the official files load with ``encoding="bytes"``):
``data`` N x 3072 uint8 (1024 red, 1024 green, 1024 blue values, each a row-major 32x32
plane), ``fine_labels`` and ``coarse_labels`` (N ints), ``filenames`` (N names); ``meta``
holds ``fine_label_names`` (100) and ``coarse_label_names`` (20).

An example's ``image`` is an HxWx3 uint8 RGB array (32x32x3), ``label`` the sentiment of its
fine class from :mod:`sentiment_fusion.image.cifar100_sentiment`, and ``meta`` keeps
``fine_label``, ``fine_label_name``, ``coarse_label`` (and ``coarse_label_name``).

Unpickling runs code a file names, so a restricted unpickler accepts only the few numpy
constructors an array needs: a crafted "CIFAR" file cannot run anything else.

>>> ds = read_cifar100("cifar-100-python.tar.gz", "test")        # doctest: +SKIP
>>> len(ds), ds[0].image.shape, ds[0].meta["fine_label_name"], ds[0].label   # doctest: +SKIP
(10000, (32, 32, 3), 'mountain', <Sentiment.POSITIVE: 2>)
"""

from __future__ import annotations

import gzip
import io
import logging
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError
from ..hashing import sha256_file
from ..image.cifar100_sentiment import FINE_LABEL_NAMES, sentiment_of
from ..labels import Sentiment
from ._files import FilesHasher
from .dataset import Dataset, check_split
from .example import Example

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "test")
ROOT_DIR = "cifar-100-python"
CLASSES = (Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.POSITIVE)
SIDE, CHANNELS = 32, 3
_CHUNK = 1 << 20

# (module, name) pairs a pickled numpy array may reference; numpy 1 and 2 spellings.
_SAFE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # how protocol-2 pickles spell bytes
}


def read_cifar100(path: str | Path, split: str = "train") -> Dataset:
    """Read the ``train`` (50,000) or ``test`` (10,000) split of CIFAR-100.

    ``fingerprint`` is the archive's sha256, or for a folder the sha256 of the split and
    meta files. Raises FileNotFoundError for a missing path and
    :class:`~sentiment_fusion.errors.DataFormatError` naming the file for a missing member,
    a truncated archive or arrays of the wrong shape.
    """
    split = check_split("cifar100", split, SPLITS, {})
    source = _locate(Path(path).expanduser().resolve())
    if source.is_file():
        raw = _read_archive(source, (split, "meta"))
        fingerprint = sha256_file(source)
        where = {name: f"member {ROOT_DIR}/{name} of {source}" for name in raw}
    else:
        hasher = FilesHasher(source)
        raw, where = {}, {}
        for name in (split, "meta"):
            file = source / name
            if not file.is_file():
                raise DataFormatError(f"{file}: missing; expected {ROOT_DIR}/{{train,test,meta}}")
            raw[name] = hasher.add(file)
            where[name] = str(file)
        fingerprint = hasher.hexdigest()

    meta = _unpickle(raw["meta"], where["meta"])
    fine_names = _names(meta, "fine_label_names", where["meta"], expected=100)
    unknown = sorted(set(fine_names) - set(FINE_LABEL_NAMES))
    if unknown:  # the sentiment table goes by name: every class must be one it knows
        raise DataFormatError(f"{where['meta']}: fine_label_names not in the official CIFAR-100 list: {unknown[:5]}")
    coarse_names = None
    if "coarse_label_names" in meta:
        coarse_names = _names(meta, "coarse_label_names", where["meta"], expected=20)

    d = _unpickle(raw[split], where[split])
    images, fine, coarse, filenames = _arrays(d, where[split])
    examples = []
    for i in range(len(images)):
        name = fine_names[fine[i]]
        info: dict[str, Any] = {"fine_label": int(fine[i]), "fine_label_name": name, "coarse_label": int(coarse[i])}
        if coarse_names is not None:
            info["coarse_label_name"] = coarse_names[coarse[i]]
        example_id = f"{split}/{i}"
        if filenames is not None:
            info["filename"] = filenames[i]
        examples.append(Example(id=example_id, image=images[i], label=sentiment_of(name), meta=info))
    logger.info("cifar100 %s: %d images from %s", split, len(examples), source)
    return Dataset("cifar100", split, source, examples, CLASSES, fingerprint)


def _locate(path: Path) -> Path:
    """The archive, or the folder holding train/test/meta."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"cifar100 data not found: {path}")
    if (path / "meta").is_file():
        return path
    if (path / ROOT_DIR).is_dir():
        return path / ROOT_DIR
    if (path / f"{ROOT_DIR}.tar.gz").is_file():
        return path / f"{ROOT_DIR}.tar.gz"
    raise FileNotFoundError(
        f"cifar100 data not found in {path}: expected {ROOT_DIR}.tar.gz or an extracted {ROOT_DIR}/ folder"
    )


def _read_archive(archive: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The wanted members' bytes, in one streaming pass that also proves the archive whole.

    tarfile's own gzip reader takes a gzip stream that stops early for a normal end of
    archive; gzip.GzipFile raises EOFError there and checks the CRC, so reading on to the
    end catches a half download even when the wanted members came first.
    """
    wanted = {f"{ROOT_DIR}/{n}": n for n in names}
    found: dict[str, bytes] = {}
    try:
        with open(archive, "rb") as fh:
            compressed = fh.read(2) == b"\x1f\x8b"
        with gzip.open(archive, "rb") if compressed else open(archive, "rb") as stream:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    name = member.name.lstrip("./")
                    if name in wanted and member.isfile():
                        member_file = tar.extractfile(member)
                        data = member_file.read() if member_file is not None else b""
                        if len(data) != member.size:
                            raise EOFError(f"member {name} cut short")
                        found[wanted[name]] = data
            if compressed:
                while stream.read(_CHUNK):
                    pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataFormatError(
            f"{archive}: truncated or corrupt archive ({type(exc).__name__}: {exc}); download {ROOT_DIR}.tar.gz again"
        ) from exc
    missing = [f"{ROOT_DIR}/{n}" for n in names if n not in found]
    if missing:
        raise DataFormatError(f"{archive}: no member {', '.join(missing)}; is this {ROOT_DIR}.tar.gz?")
    return found


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not part of a CIFAR-100 file")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module[len("numpy.core.") :]  # numpy 2 moved them (and warns)
        return super().find_class(module, name)


def _unpickle(data: bytes, where: str) -> dict[str, Any]:
    try:
        obj = _Unpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # a damaged pickle raises anything; re-raised as DataFormatError
        raise DataFormatError(f"{where}: not a CIFAR-100 pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}: expected a pickled dict, got {type(obj).__name__}")
    # Official files were pickled by Python 2: keys load as bytes; accept str keys too.
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _names(meta: dict[str, Any], key: str, where: str, expected: int) -> list[str]:
    if key not in meta:
        raise DataFormatError(f"{where}: no {key!r} entry (keys: {sorted(meta)})")
    names = [_text(n) for n in meta[key]]
    if len(names) != expected:
        raise DataFormatError(f"{where}: {key} has {len(names)} names, expected {expected}")
    return names


def _labels(d: dict[str, Any], key: str, n: int, classes: int, where: str) -> np.ndarray:
    if key not in d:
        raise DataFormatError(f"{where}: no {key!r} entry (keys: {sorted(d)})")
    try:
        labels = np.asarray(d[key], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{where}: {key} is not a list of ints ({exc})") from exc
    if len(labels) != n:
        raise DataFormatError(f"{where}: {len(labels)} {key} for {n} images")
    if n and (labels.min() < 0 or labels.max() >= classes):
        raise DataFormatError(f"{where}: {key} outside 0..{classes - 1}")
    return labels


def _arrays(d: dict[str, Any], where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str] | None]:
    """``images`` (N, 32, 32, 3) uint8, fine and coarse labels, filenames (or None)."""
    if "data" not in d:
        raise DataFormatError(f"{where}: no 'data' entry (keys: {sorted(d)})")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataFormatError(
            f"{where}: 'data' must be an N x 3072 uint8 array, got {type(data).__name__} "
            f"{getattr(data, 'dtype', '')} {shape}"
        )
    n = len(data)
    fine = _labels(d, "fine_labels", n, 100, where)
    coarse = _labels(d, "coarse_labels", n, 20, where)
    filenames = None
    if "filenames" in d:
        filenames = [_text(f) for f in d["filenames"]]
        if len(filenames) != n:
            raise DataFormatError(f"{where}: {len(filenames)} filenames for {n} images")
    # Row = 1024 R, 1024 G, 1024 B, each 32x32 row-major -> (N, 3, 32, 32) -> (N, 32, 32, 3).
    images = np.ascontiguousarray(data.reshape(n, CHANNELS, SIDE, SIDE).transpose(0, 2, 3, 1))
    images.setflags(write=False)  # examples share this buffer: keep it immutable
    return images, fine, coarse, filenames
