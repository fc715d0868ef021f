"""IMDB Large Movie Review Dataset (Maas et al., 2011), read as it ships.

Source: the official ``aclImdb_v1.tar.gz`` (read straight from the archive, no
extraction) or an extracted ``aclImdb/`` folder (or the folder holding it). Reviews are
``aclImdb/{split}/{pos,neg}/<n>_<rating>.txt``; ``unsup/``, ``urls_*.txt``, the vocabulary
and bag-of-words files are ignored. Text stays raw (``<br />`` and all): normalisation
belongs to the text preprocessing, so training and serving share one implementation.

>>> ds = read_imdb("../shared/data/imdb/aclImdb_v1.tar.gz", "test")  # doctest: +SKIP
>>> len(ds), ds[0].id, ds[0].label, ds[0].meta  # doctest: +SKIP
(25000, 'test/neg/0_2', <Sentiment.NEGATIVE: 0>, {'rating': 2})
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import itertools
import logging
import lzma
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataFormatError
from ..hashing import sha256_file
from ..labels import Sentiment
from ._files import FilesHasher
from .dataset import Dataset, check_split
from .example import Example

logger = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("train", "test")
ALIASES: dict[str, str] = {}
CLASSES = (Sentiment.NEGATIVE, Sentiment.POSITIVE)  # binary: there is no neutral review
LABEL_DIRS = {"neg": Sentiment.NEGATIVE, "pos": Sentiment.POSITIVE}
_REVIEW = re.compile(r"(\d+)_(\d+)\.txt")
_CHUNK = 1 << 20
_DECOMPRESSORS = (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile)


@dataclass(frozen=True)
class _Review:
    number: int
    label_dir: str
    rating: int
    where: str  # "member M of ARCHIVE" or the file path, for error messages
    data: bytes = b""

    @property
    def sort_key(self) -> tuple[int, str]:
        # (number, label) rather than (label, number): neg and pos alternate, so the
        # first N examples (``limit``) hold both classes and a quick run can still score.
        return (self.number, self.label_dir)


def read_imdb(path: str | Path, split: str = "train", *, limit: int | None = None) -> Dataset:
    """Read one split (``train`` or ``test``) of IMDB from the tarball or a folder.

    Examples come in a fixed order, review number then neg/pos, whatever the archive's
    member order. ``limit`` keeps the first N of that order; it saves decoding, not
    decompression (a gzip stream can only be read from the start). ``fingerprint`` is
    the tarball's sha256, or for a folder that of the review files read (see
    :class:`~sentiment_fusion.data._files.FilesHasher`), so only those kept by ``limit``.
    """
    split = check_split("imdb", split, SPLITS, ALIASES)
    source = _locate(Path(path).expanduser().resolve())
    if source.is_file():
        reviews = _scan_tarball(source, split)
        fingerprint = sha256_file(source)
        chosen = _order(reviews, source, split)[:limit]
    else:
        listed = _scan_folder(source, split)
        chosen = _order(listed, source, split)[:limit]
        hasher = FilesHasher(source)
        # Folder reviews were listed, not read: read (and hash) only the ones kept.
        chosen = [dataclasses.replace(r, data=hasher.add(Path(r.where))) for r in chosen]
        fingerprint = hasher.hexdigest()
    examples = [_example(r, split) for r in chosen]
    logger.info("imdb %s: %d reviews from %s", split, len(examples), source)
    return Dataset("imdb", split, source, examples, CLASSES, fingerprint)


def _locate(path: Path) -> Path:
    """The tarball, or the ``aclImdb`` root folder (the one holding train/ and test/)."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"imdb data not found: {path}")
    if any((path / s).is_dir() for s in SPLITS):
        return path
    if (path / "aclImdb").is_dir():
        return path / "aclImdb"
    tarballs = sorted(path.glob("aclImdb*.tar.gz"))
    if len(tarballs) == 1:
        return tarballs[0]
    raise FileNotFoundError(
        f"imdb data not found in {path}: expected aclImdb_v1.tar.gz or an extracted "
        f"aclImdb/ folder (with train/ and test/)"
    )


def _parse_name(name: str, split: str) -> tuple[str, re.Match[str] | None] | None:
    """``(label_dir, match)`` for a path under ``{split}/{pos,neg}/``, else None."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if len(parts) < 3 or parts[-3] != split or parts[-2] not in LABEL_DIRS:
        return None
    return parts[-2], _REVIEW.fullmatch(parts[-1])


def _scan_tarball(archive: Path, split: str) -> list[_Review]:
    reviews: list[_Review] = []
    skipped = 0
    try:
        with _decompressed(archive) as stream:
            # Stream mode ("r|"): one pass, no member index to build, so the 50k-member
            # archive is read in about a second.
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    parsed = _parse_name(member.name, split)
                    if parsed is None or not member.isfile():
                        continue
                    label_dir, match = parsed
                    if match is None:
                        skipped += 1
                        continue
                    fh = tar.extractfile(member)
                    data = fh.read() if fh is not None else b""
                    reviews.append(
                        _Review(int(match[1]), label_dir, int(match[2]), f"member {member.name} of {archive}", data)
                    )
                end_offset = tar.offset
            _check_complete(stream, end_offset)
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
        raise DataFormatError(
            f"{archive}: truncated or corrupt archive ({type(exc).__name__}: {exc}); download aclImdb_v1.tar.gz again"
        ) from exc
    if skipped:
        logger.warning("imdb %s: skipped %d files not named <n>_<rating>.txt in %s", split, skipped, archive)
    return reviews


def _decompressed(archive: Path) -> io.BufferedIOBase:
    """The archive's tar bytes, decompressed by the stdlib module its magic bytes name.

    Not tarfile's own "r|gz": its stream reader treats a gzip file that stops early as
    a normal end of archive, so half a download would read as a smaller data set.
    gzip/bz2/lzma raise EOFError instead, and check the CRC at the end.
    """
    with open(archive, "rb") as fh:
        magic = fh.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(archive, "rb")
    if magic.startswith(b"BZh"):
        return bz2.open(archive, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(archive, "rb")
    return open(archive, "rb")


def _check_complete(stream: io.BufferedIOBase, end_offset: int) -> None:
    """Raise EOFError unless the archive was read to its real end."""
    if isinstance(stream, _DECOMPRESSORS):
        # Reading on to the end raises EOFError where the compressed stream was cut and
        # verifies its checksum (tarfile stops reading at the tar end marker).
        while stream.read(_CHUNK):
            pass
        return
    # A plain tar: tarfile also stops quietly at a header cut short, so look for the
    # end-of-archive zero block where iteration stopped.
    stream.seek(end_offset)
    block = stream.read(tarfile.BLOCKSIZE)
    if len(block) < tarfile.BLOCKSIZE or block.count(0) != tarfile.BLOCKSIZE:
        raise EOFError(f"no end-of-archive marker at byte {end_offset}")


def _scan_folder(root: Path, split: str) -> list[_Review]:
    reviews: list[_Review] = []
    skipped = 0
    for label_dir in LABEL_DIRS:
        folder = root / split / label_dir
        if not folder.is_dir():
            raise DataFormatError(f"{folder}: missing; expected aclImdb/{split}/{{pos,neg}}/")
        for file in folder.iterdir():
            match = _REVIEW.fullmatch(file.name)
            if match is None or not file.is_file():
                skipped += 1
                continue
            reviews.append(_Review(int(match[1]), label_dir, int(match[2]), str(file)))
    if skipped:
        logger.warning("imdb %s: skipped %d entries not named <n>_<rating>.txt in %s", split, skipped, root / split)
    return reviews


def _order(reviews: list[_Review], source: Path, split: str) -> list[_Review]:
    """Sort deterministically and check the split is whole: both classes, no duplicates."""
    reviews.sort(key=lambda r: r.sort_key)
    for label_dir in LABEL_DIRS:
        if not any(r.label_dir == label_dir for r in reviews):
            raise DataFormatError(
                f"{source}: no reviews under aclImdb/{split}/{label_dir}/ (expected files named <n>_<rating>.txt)"
            )
    for prev, cur in itertools.pairwise(reviews):
        if prev.sort_key == cur.sort_key:
            raise DataFormatError(
                f"{source}: review {cur.number} appears twice in {split}/{cur.label_dir}/ "
                f"({prev.where} and {cur.where})"
            )
    return reviews


def _example(review: _Review, split: str) -> Example:
    try:
        text = review.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{review.where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    return Example(
        id=f"{split}/{review.label_dir}/{review.number}_{review.rating}",
        text=text,
        label=LABEL_DIRS[review.label_dir],
        meta={"rating": review.rating},
    )
