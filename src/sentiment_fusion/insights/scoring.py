"""Score posts with an :class:`~sentiment_fusion.runtime.Analyzer`: the part every engine shares.

:func:`score_table` turns ``post_id, text, image`` rows into :data:`RESULT_SCHEMA` rows;
a post that cannot be scored gets ``error`` (the reason) instead of probabilities, and
never stops the others: cheap checks first (empty text, missing image file), then the
Analyzer's per-post results (``predict_batch(..., on_error="return")``: an undecodable image
fails only its own post; finding it is the Analyzer's job, not this module's).

:class:`LocalEngine` runs it in this process; ``ray_engine.RayEngine`` spreads it over a
Ray cluster. Both hand back the same result tables, which the store commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from ..labels import LABELS
from ..text.normalize import is_blank

log = logging.getLogger(__name__)

RESULT_SCHEMA = pa.schema(
    [
        ("post_id", pa.string()),
        ("sentiment", pa.string()),
        ("p_negative", pa.float64()),
        ("p_neutral", pa.float64()),
        ("p_positive", pa.float64()),
        ("error", pa.string()),
    ]
)
COMMIT_ROWS = 512  # posts per transaction: a kill loses at most this much work


def model_version(analyzer) -> str:
    """What the store records as ``model_version``: ``"name@version"`` of the bundle."""
    return f"{analyzer.name}@{analyzer.version}"


def score_table(analyzer, table: pa.Table) -> pa.Table:
    """``post_id, text, image`` -> :data:`RESULT_SCHEMA`, one result per input row, same order."""
    ids = table.column("post_id").to_pylist()
    texts = table.column("text").to_pylist()
    given = table.column("image").to_pylist() if "image" in table.column_names else [None] * len(ids)
    # A text-only bundle scores the text of posts that also have an image.
    images = given if analyzer.image is not None else [None] * len(ids)
    results: list[tuple | str] = [""] * len(ids)  # per row: probabilities or an error message
    todo: list[int] = []
    for i, text in enumerate(texts):
        texts[i] = text if isinstance(text, str) and not is_blank(text) else None
        image = images[i]
        if image is not None and not Path(image).is_file():
            results[i] = f"image file not found: {image}"
        elif texts[i] is None and images[i] is None:
            results[i] = (
                "empty text and no image"
                if given[i] is None
                else f"empty text, and model {analyzer.name} has no image component"
            )
        else:
            todo.append(i)
    if todo:
        predictions = analyzer.predict_batch([texts[i] for i in todo], [images[i] for i in todo], on_error="return")
        for i, prediction in zip(todo, predictions, strict=True):
            if isinstance(prediction, Exception):  # this post's input error, e.g. an undecodable image
                results[i] = str(prediction) or type(prediction).__name__
            else:
                results[i] = tuple(float(prediction.scores[label]) for label in LABELS)
    columns: dict[str, list] = {name: [] for name in RESULT_SCHEMA.names}
    for post_id, result in zip(ids, results, strict=True):
        columns["post_id"].append(post_id)
        if isinstance(result, str):
            columns["sentiment"].append(None)
            for label in LABELS:
                columns[f"p_{label}"].append(None)
            columns["error"].append(result)
        else:
            probs = result
            columns["sentiment"].append(LABELS[max(range(len(LABELS)), key=probs.__getitem__)])
            for label, p in zip(LABELS, probs, strict=True):
                columns[f"p_{label}"].append(p)
            columns["error"].append(None)
    return pa.table(columns, schema=RESULT_SCHEMA)


def chunks(table: pa.Table, rows: int) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


class LocalEngine:
    """Score in this process; the Analyzer batches and sorts by length inside each chunk."""

    name = "local"

    def __init__(self, analyzer, commit_rows: int = COMMIT_ROWS) -> None:
        self.analyzer = analyzer
        self.commit_rows = commit_rows

    def run(self, pending: pa.Table) -> Iterator[pa.Table]:
        """Yield result tables of at most ``commit_rows`` rows, in pending order."""
        for chunk in chunks(pending, self.commit_rows):
            yield score_table(self.analyzer, chunk)
