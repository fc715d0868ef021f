"""Brand mentions: each post scored toward each brand it names, into the store's ``mentions`` table.

Which brands a post is scored toward comes from a :class:`~.brands.MentionConfig` (``--brands``
FILE, or the post's own brand with ``--brand-col`` / ``--brand``); the sentiment toward a brand
comes from the bundle's targeted text model (``Analyzer.predict_targets``: one batched call over
every (post, brand) pair of a chunk).

Re-runs, kills and changed brands (same rules as the posts, see ``store.py``):

- a post is looked at again only when its ``mention_sync.sync_key`` is stale: its text or brand
  changed, the brands changed, or the model did;
- of a stale post's mentions, only those whose input changed are re-scored: each row keeps
  ``input_key`` (a hash of the text and the target string shown to the model) and
  ``model_version``; a mention with the same key and version keeps its scores (only its spans
  are refreshed, e.g. when an alias was added), one whose brand the post no longer names (or a
  brand taken out of the file) is deleted;
- a chunk's new, changed and deleted rows and its sync keys are one transaction, so a kill loses
  at most the chunk being scored and the next run picks up the rest.

:func:`score_and_store` does all of it (posts and their mentions) for one batch in one
transaction: the entry point for callers that feed posts as they arrive.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from ..errors import InvalidInputError
from ..labels import LABELS
from ..posts import check_post
from .brands import Mention, MentionConfig
from .scoring import COMMIT_ROWS, chunks, model_version, score_table
from .store import INPUT_COLUMNS, MENTION_COLUMNS, PostStore, utc_now

log = logging.getLogger(__name__)

MENTION_SCHEMA = pa.schema(
    [
        ("post_id", pa.string()),
        ("brand", pa.string()),
        ("spans", pa.list_(pa.list_(pa.int32()))),
        ("sentiment", pa.string()),
        ("p_negative", pa.float64()),
        ("p_neutral", pa.float64()),
        ("p_positive", pa.float64()),
        ("model_version", pa.string()),
        ("scored_at", pa.timestamp("us")),
        ("target", pa.string()),
        ("input_key", pa.string()),
    ]
)
assert tuple(MENTION_SCHEMA.names) == MENTION_COLUMNS


class NoTargetModelError(InvalidInputError):
    """Brand mentions need a bundle with a targeted text component."""

    code = "targets_not_supported"


def require_target_model(analyzer) -> None:
    if getattr(analyzer, "target", None) is None:
        raise NoTargetModelError(
            f"model {analyzer.name}@{analyzer.version} has no targeted text component (manifest "
            "component 'target'), so it cannot score brand mentions: use a bundle that has one "
            "(the default bundle from 1.3.0) or leave out --brands",
            code="targets_not_supported",
        )


def input_key(text: str, target: str) -> str:
    """What a mention's score depends on besides the model: the text and the target shown."""
    return hashlib.md5(f"{text}\x00{target}".encode()).hexdigest()


@dataclass
class MentionStats:
    """What one pass over pending posts did to the mentions table."""

    posts: int = 0  # posts looked at (new, changed, or matched under other brands or another model)
    scored: int = 0  # mentions scored by the targeted model
    kept: int = 0  # mentions whose text, target and model were unchanged: scores kept
    deleted: int = 0  # mentions of brands those posts no longer name
    seconds: float = 0.0

    def add(self, other: MentionStats) -> None:
        self.posts += other.posts
        self.scored += other.scored
        self.kept += other.kept
        self.deleted += other.deleted


def _checked_text(analyzer, text: str | None) -> str | None:
    """The text when the targeted model can read it (not blank, not over the length limit)."""
    try:
        check_post(text, False, modalities=("text",), model=analyzer.name)
    except InvalidInputError:
        return None
    return text


def score_mentions(
    analyzer,
    posts: pa.Table,
    config: MentionConfig,
    stored: Iterable[dict] = (),
    *,
    scored_at: datetime | None = None,
) -> tuple[pa.Table, MentionStats]:
    """``post_id, text, brand`` rows -> the full set of their mention rows (:data:`MENTION_SCHEMA`).

    ``stored``: these posts' mention rows in the store; one with the same input and model version
    is carried over with its scores instead of being scored again.
    """
    version = model_version(analyzer)
    scored_at = scored_at or utc_now()
    old = {(row["post_id"], row["brand"]): row for row in stored}
    ids = posts.column("post_id").to_pylist()
    texts = posts.column("text").to_pylist()
    post_brands = posts.column("brand").to_pylist() if "brand" in posts.column_names else [None] * len(ids)
    kept: list[tuple[str, Mention, dict]] = []
    todo: dict[int, list[Mention]] = {}  # row index -> mentions to score
    for i, (post_id, given, brand) in enumerate(zip(ids, texts, post_brands, strict=True)):
        text = _checked_text(analyzer, given)
        if text is None:
            continue
        for mention in config.mentions(text, brand):
            before = old.get((post_id, mention.brand))
            if (
                before is not None
                and before["model_version"] == version
                and before["input_key"] == input_key(text, mention.target)
            ):
                kept.append((post_id, mention, before))
            else:
                todo.setdefault(i, []).append(mention)
    columns: dict[str, list] = {name: [] for name in MENTION_SCHEMA.names}

    def add(post_id: str, mention: Mention, scores: Sequence[float], key: str, when: datetime) -> None:
        values = {
            "post_id": post_id,
            "brand": mention.brand,
            "spans": [list(span) for span in mention.spans],
            "sentiment": LABELS[max(range(len(LABELS)), key=scores.__getitem__)],
            **{f"p_{label}": float(p) for label, p in zip(LABELS, scores, strict=True)},
            "model_version": version,
            "scored_at": when,
            "target": mention.target,
            "input_key": key,
        }
        for name, value in values.items():
            columns[name].append(value)

    for post_id, mention, before in kept:
        add(
            post_id,
            mention,
            [before[f"p_{label}"] for label in LABELS],
            before["input_key"],
            before["scored_at"],
        )
    order = sorted(todo)
    if order:
        answers = analyzer.predict_targets(
            [texts[i] for i in order], [[mention.target for mention in todo[i]] for i in order]
        )
        for i, predictions in zip(order, answers, strict=True):
            for mention, prediction in zip(todo[i], predictions, strict=True):
                scores = [prediction.scores[label] for label in LABELS]
                add(ids[i], mention, scores, input_key(texts[i], mention.target), scored_at)
    table = pa.table(columns, schema=MENTION_SCHEMA)
    desired = set(zip(columns["post_id"], columns["brand"], strict=True))
    stats = MentionStats(
        posts=len(ids),
        scored=sum(len(m) for m in todo.values()),
        kept=len(kept),
        deleted=sum(1 for key in old if key not in desired),
    )
    return table, stats


def sync_mentions(
    store: PostStore,
    analyzer,
    config: MentionConfig,
    *,
    commit_rows: int = COMMIT_ROWS,
    progress: bool = False,
) -> MentionStats:
    """Bring the store's mentions up to date with ``config`` and the analyzer's targeted model:
    every post whose mentions are stale is matched again and what changed is scored, one
    transaction per ``commit_rows`` posts. ``config`` is recorded first (so a killed run's next
    run, given no brands, carries on with it)."""
    from tqdm.auto import tqdm

    require_target_model(analyzer)
    version = model_version(analyzer)
    if store.mention_config() != config:
        store.set_mention_config(config)
    pending = store.pending_mentions(config, version)
    stats = MentionStats()
    start = time.perf_counter()
    with tqdm(total=pending.num_rows, unit="post", desc="mentions", disable=not progress, dynamic_ncols=True) as bar:
        for chunk in chunks(pending, commit_rows):
            ids = chunk.column("post_id").to_pylist()
            rows, done = score_mentions(analyzer, chunk, config, store.stored_mentions(ids))
            store.write_mentions(ids, rows, config, version)
            stats.add(done)
            bar.update(chunk.num_rows)
    stats.seconds = time.perf_counter() - start
    return stats


def _posts_table(posts: pa.Table | Sequence[dict]) -> tuple[pa.Table, tuple[str, ...]]:
    """Posts as a :data:`~.readers.POST_SCHEMA` table and the columns they set."""
    from .readers import POST_SCHEMA

    if isinstance(posts, pa.Table):
        given = tuple(c for c in INPUT_COLUMNS if c in posts.column_names)
        columns = {c: posts.column(c) if c in given else pa.nulls(posts.num_rows) for c in INPUT_COLUMNS}
        return pa.table(columns).cast(POST_SCHEMA), given
    rows = list(posts)
    unknown = sorted({key for row in rows for key in row} - set(INPUT_COLUMNS))
    if unknown:
        raise ValueError(f"unknown post field(s) {unknown}; posts have {list(INPUT_COLUMNS)}")
    given = tuple(c for c in INPUT_COLUMNS if any(c in row for row in rows))
    return pa.Table.from_pylist([{c: row.get(c) for c in INPUT_COLUMNS} for row in rows], schema=POST_SCHEMA), given


def score_and_store(
    store: PostStore,
    analyzer,
    posts: pa.Table | Sequence[dict],
    brands: MentionConfig | None = None,
    *,
    scored_at: datetime | None = None,
) -> list[dict]:
    """Store a batch of posts, score them and their brand mentions, in ONE transaction.

    ``posts``: dicts (or an Arrow table) with ``post_id`` and ``text`` and any of ``brand``,
    ``created_at`` (a naive UTC datetime), ``image`` (a path), ``human_label``; a stored post is
    updated only in the fields given (as ``analyze`` does). ``brands``: whom to score each post
    toward; None uses the store's recorded config (none: posts only). A config that differs from
    the stored one is recorded (the next ``analyze`` then re-matches the other posts).

    Only what is not already in the store is scored: a post re-sent with the same text keeps its
    scores. All or nothing: a failure (or a kill) leaves the store as it was.

    Returns, for each distinct post id in input order, the stored post row (``posts`` columns)
    with its ``mentions`` (rows of ``mentions``, by brand).

    >>> with PostStore("live.duckdb") as store:  # doctest: +SKIP
    ...     score_and_store(store, analyzer, [{"post_id": "1", "text": "@Apple fix this", "brand": "all"}],
    ...                     MentionConfig("aliases", {"apple": ("apple", "iphone")}))
    """
    table, given = _posts_table(posts)
    if table.num_rows == 0:
        return []
    if not {"post_id", "text"} <= set(given):
        raise ValueError("each post needs a post_id and a text (None for an image-only post)")
    if table.column("post_id").null_count:
        raise ValueError("post_id must not be null")
    if "brand" not in given:  # a new post needs a brand; a stored one keeps its own
        table = table.set_column(INPUT_COLUMNS.index("brand"), "brand", pa.array(["all"] * table.num_rows, pa.string()))
        given = (*given, "brand")
    config = brands if brands is not None else store.mention_config()
    if config is not None:
        require_target_model(analyzer)
    version = model_version(analyzer)
    when = scored_at or utc_now()
    ids = list(dict.fromkeys(table.column("post_id").to_pylist()))
    with store.transaction():
        store.ingest([table], tuple(c for c in INPUT_COLUMNS if c in given))
        pending = store.pending(version, post_ids=ids)
        if pending.num_rows:
            store.write_scores(score_table(analyzer, pending), version, when)
        if config is not None:
            if store.mention_config() != config:
                store.set_mention_config(config)
            stale = store.pending_mentions(config, version, post_ids=ids)
            if stale.num_rows:
                stale_ids = stale.column("post_id").to_pylist()
                rows, _ = score_mentions(analyzer, stale, config, store.stored_mentions(stale_ids), scored_at=when)
                store.write_mentions(stale_ids, rows, config, version)
    stored = {
        row["post_id"]: row for row in store.query("SELECT * FROM posts WHERE post_id IN (SELECT unnest(?))", [ids])
    }
    by_post: dict[str, list[dict]] = {}
    for row in sorted(store.stored_mentions(ids), key=lambda r: r["brand"]):
        by_post.setdefault(row["post_id"], []).append(row)
    return [{**stored[i], "mentions": by_post.get(i, [])} for i in ids]
