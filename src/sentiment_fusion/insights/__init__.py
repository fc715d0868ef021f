"""Bulk scoring and brand-perception insights.

``analyze`` scores posts from CSV / JSON Lines / Parquet into a DuckDB file (resumable,
idempotent); ``aggregates``, ``alerts``, ``terms`` and ``report`` read that file.
Needs the ``[insights]`` extra (duckdb, pyarrow); the Ray engine needs ``[scale]``.

>>> from sentiment_fusion.insights import ColumnSpec, analyze
>>> analyze(["posts.jsonl"], ColumnSpec(id="id", text="text"), "brands.duckdb")  # doctest: +SKIP
"""

from __future__ import annotations

__all__ = ["ColumnSpec", "analyze"]


def __getattr__(name: str):
    # Lazy: importing the package must not import duckdb/pyarrow (an [insights] extra).
    if name == "ColumnSpec":
        from .readers import ColumnSpec

        return ColumnSpec
    if name == "analyze":
        from .pipeline import analyze

        return analyze
    raise AttributeError(f"module 'sentiment_fusion.insights' has no attribute {name!r}")
