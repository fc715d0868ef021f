"""``analyze``: read inputs -> upsert into the store -> score what is pending -> commit.

>>> from sentiment_fusion.insights import ColumnSpec, analyze
>>> result = analyze(["tweets.csv"], ColumnSpec(id="id", text="text", time="date"),
...                  "brands.duckdb")  # doctest: +SKIP
>>> result.scored  # doctest: +SKIP
3886

``result.posts_per_s`` is the scoring phase's rate (the README dates each measured figure).

With ``brands`` (a TOML file, ``{brand: aliases}`` or a :class:`~.brands.MentionConfig`), or a
post brand (``spec.brand_col`` / ``spec.brand``) and a bundle with a targeted component, each
post is then also scored toward each brand it mentions (table ``mentions``, ``mentions.py``).

Re-running the same command scores nothing new; killing it at any point and re-running
finishes the job without duplicates (see ``store.py`` for why).

Memory: inputs stream into the store in chunks; the posts still to score (id, text,
image path) are then held in memory as one Arrow table, a few hundred bytes a post.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .brands import MentionConfig
from .mentions import MentionStats, require_target_model, sync_mentions
from .readers import ColumnSpec, ReadStats, find_files, read_posts
from .scoring import COMMIT_ROWS, LocalEngine, model_version
from .store import PostStore, utc_now

if TYPE_CHECKING:
    from .ray_engine import RayEngine

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")


@dataclass
class AnalyzeResult:
    """What one ``analyze`` run did; ``posts_per_s`` covers the scoring phase only."""

    model_version: str
    engine: str
    rows_read: int = 0
    repeated_ids: int = 0  # rows whose post id an earlier row of this run had (the last one is kept)
    pending: int = 0
    scored: int = 0
    errors: int = 0
    read_seconds: float = 0.0
    score_seconds: float = 0.0
    totals: dict[str, int] = field(default_factory=dict)
    read_stats: ReadStats = field(default_factory=ReadStats)
    mention_config: MentionConfig | None = None  # whom posts were scored toward; None: no mentions
    mentions: MentionStats = field(default_factory=MentionStats)  # this run's mention work
    mention_totals: dict[str, int] = field(default_factory=dict)  # mentions / matched / unmatched posts

    @property
    def posts_per_s(self) -> float:
        return (self.scored + self.errors) / self.score_seconds if self.score_seconds > 0 else 0.0


def analyze(
    inputs: Sequence[str | Path],
    spec: ColumnSpec,
    db: str | Path,
    *,
    model: str | Path | None = None,
    engine: str = "local",
    batch_size: int = 64,
    commit_rows: int = COMMIT_ROWS,
    threads: int | None = None,
    ray_actors: int | None = None,
    progress: bool = True,
    brands: str | Path | Mapping[str, Sequence[str]] | MentionConfig | None = None,
) -> AnalyzeResult:
    """Score every post of ``inputs`` not yet scored by this model into the DuckDB file ``db``,
    then each brand mention not yet scored (see :func:`mention_config` for which)."""
    from ..bundle import default_bundle_path
    from ..runtime import Analyzer

    config = _given_config(brands, spec)  # a bad brands file fails here, before anything else
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {ENGINES}")
    if batch_size < 1 or commit_rows < 1:
        raise ValueError(f"batch size and commit rows must be >= 1, got {batch_size} and {commit_rows}")
    bundle = Path(model) if model is not None else default_bundle_path()
    analyzer = Analyzer.load(bundle, threads=threads, batch_size=batch_size)  # fail before touching the store
    if brands is not None:
        require_target_model(analyzer)
    files = find_files(inputs)  # folders walked once; a missing input fails here, before the store
    version = model_version(analyzer)
    result = AnalyzeResult(model_version=version, engine=engine)
    runner: LocalEngine | RayEngine
    if engine == "ray":
        from .ray_engine import RayEngine

        runner = RayEngine(bundle, batch_size=batch_size, commit_rows=commit_rows, actors=ray_actors)
    else:
        runner = LocalEngine(analyzer, commit_rows=commit_rows)
    new_store = not Path(db).exists()
    with PostStore(db) as store:
        start = time.perf_counter()
        try:
            result.rows_read, result.repeated_ids = store.ingest(
                read_posts(files, spec, result.read_stats), spec.stored_columns
            )
        except BaseException:
            if new_store:  # leave no empty store behind for inputs that could not be read
                store.close()
                for leftover in (Path(db), Path(f"{db}.wal")):
                    leftover.unlink(missing_ok=True)
            raise
        if result.repeated_ids:
            log.warning(
                "%d rows repeat a post id read earlier in this run; the last row of each id is kept",
                result.repeated_ids,
            )
        result.read_seconds = time.perf_counter() - start
        pending = store.pending(version)
        result.pending = pending.num_rows
        log.info(
            "%d rows read in %.1fs; %d posts to score with %s",
            result.rows_read,
            result.read_seconds,
            result.pending,
            version,
        )
        if pending.num_rows:
            _score(store, runner, pending, version, result, progress)
        result.totals = store.counts(version)
        result.mention_config = _run_config(config, spec, store, analyzer)
        if result.mention_config is not None:
            result.mentions = sync_mentions(
                store, analyzer, result.mention_config, commit_rows=commit_rows, progress=progress
            )
            log.info(
                "mentions: %d posts matched again, %d mentions scored, %d kept, %d deleted in %.1fs",
                result.mentions.posts,
                result.mentions.scored,
                result.mentions.kept,
                result.mentions.deleted,
                result.mentions.seconds,
            )
        result.mention_totals = store.mention_counts()
    return result


def _given_config(brands, spec: ColumnSpec) -> MentionConfig | None:
    """The mention config the caller asked for: ``brands`` (with ``spec.brand_col``: each post's
    own brand, through its aliases), else None (decided against the store in :func:`_run_config`)."""
    if brands is None or isinstance(brands, MentionConfig):
        return brands
    mode = "post_brand" if spec.brand_col else "aliases"
    if isinstance(brands, (str, Path)):
        return MentionConfig.from_file(brands, post_brand=mode == "post_brand")
    return MentionConfig(mode, {name: tuple(aliases) for name, aliases in brands.items()})


def _run_config(given: MentionConfig | None, spec: ColumnSpec, store: PostStore, analyzer) -> MentionConfig | None:
    """Whom this run scores posts toward.

    - brands given: those;
    - else a post brand named (``--brand-col`` or ``--brand``) and a bundle with a targeted
      component: each post's own brand, by its name;
    - else what the store recorded (a re-run that names no brands keeps them, as it keeps stored
      times and labels); none recorded: no mentions.
    """
    if given is not None:
        return given
    has_target = getattr(analyzer, "target", None) is not None
    if spec.brand_col or spec.brand:
        if has_target:
            return MentionConfig("post_brand")
        log.info("model %s has no targeted component: posts are scored as a whole, no mentions", analyzer.name)
        return None
    stored = store.mention_config()
    if stored is not None and not has_target:
        log.warning(
            "%s holds brand mentions but model %s has no targeted component: they are not updated",
            store.path,
            analyzer.name,
        )
        return None
    return stored


def _score(store: PostStore, runner, pending, version: str, result: AnalyzeResult, progress: bool) -> None:
    from tqdm.auto import tqdm

    start = time.perf_counter()
    with tqdm(
        total=pending.num_rows,
        unit="post",
        desc=f"scoring ({runner.name})",
        disable=not progress,
        smoothing=0.05,
        dynamic_ncols=True,
    ) as bar:
        for scores in runner.run(pending):
            store.write_scores(scores, version, utc_now())
            errors = scores.num_rows - scores.column("error").null_count
            result.errors += errors
            result.scored += scores.num_rows - errors
            bar.update(scores.num_rows)
    result.score_seconds = time.perf_counter() - start
