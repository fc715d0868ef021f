"""Scale-out scoring with Ray Data: ``analyze --engine ray``.

The posts still to score (read from the DuckDB store, so a re-run skips what is done) are
turned into a Ray Dataset, scored by ``map_batches`` over a pool of actors that each hold
one Analyzer, and streamed back to this process, which commits them to the store exactly
as the local engine does. DuckDB has one writer, so results return to the driver; the
scoring, which is the expensive part, is what spreads out.

Where it runs:
- nothing set: a local Ray instance on this machine (one actor per CPU);
- ``RAY_ADDRESS=ray://head-node:10001`` (Ray Client) or ``RAY_ADDRESS=auto`` on a cluster
  node: that cluster. ``ray.init()`` reads the variable; nothing else changes.
The model bundle travels to the workers through Ray's object store, so workers need no
copy of it. Image paths must be readable from every worker (shared storage); for
text-only posts nothing else is needed. Workers need this package installed
(``pip install sentiment-fusion[scale]``, or a ``runtime_env``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from .scoring import COMMIT_ROWS, RESULT_SCHEMA

log = logging.getLogger(__name__)


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ImportError(
            "the ray engine needs Ray Data: pip install 'sentiment-fusion[scale]' "
            "(or 'ray[data,client]'); or use --engine local"
        ) from exc
    return ray


def bundle_files(bundle: Path) -> dict[str, bytes]:
    """Every file of a bundle folder, by relative path (what the actors rebuild it from)."""
    return {p.relative_to(bundle).as_posix(): p.read_bytes() for p in sorted(bundle.rglob("*")) if p.is_file()}


class BundleScorer:
    """The actor class: rebuilds the bundle in a private temp folder and scores batches."""

    def __init__(self, files_ref, batch_size: int, threads: int = 1) -> None:
        import ray

        from ..runtime import Analyzer

        files = ray.get(files_ref)
        self._dir = tempfile.TemporaryDirectory(prefix="sentiment-fusion-bundle-")
        for name, data in files.items():
            path = Path(self._dir.name) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.analyzer = Analyzer.load(self._dir.name, threads=threads, batch_size=batch_size)

    def __call__(self, batch: pa.Table) -> pa.Table:
        from .scoring import score_table

        return score_table(self.analyzer, batch)


class RayEngine:
    """Score with a pool of Ray actors; yields :data:`RESULT_SCHEMA` tables as they finish."""

    name = "ray"

    def __init__(
        self,
        bundle: str | Path,
        *,
        batch_size: int = 64,
        commit_rows: int = COMMIT_ROWS,
        actors: int | None = None,
        threads_per_actor: int = 1,
    ) -> None:
        _import_ray()  # a missing install fails here, before any input is read
        self.bundle = Path(bundle)
        self.batch_size = batch_size
        self.commit_rows = commit_rows
        self.actors = actors
        self.threads_per_actor = threads_per_actor

    def run(self, pending: pa.Table) -> Iterator[pa.Table]:
        ray = _import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            # RAY_ADDRESS (if set) picks the cluster; otherwise a local instance.
            ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        try:
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = False  # ours (tqdm) already shows progress and ETA
            actors = self.actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // self.threads_per_actor)
            files_ref = ray.put(bundle_files(self.bundle))
            # One block per commit-sized slice, so every actor gets work from the start.
            blocks = [pending.slice(i, self.commit_rows) for i in range(0, pending.num_rows, self.commit_rows)]
            dataset = ray.data.from_arrow(blocks).map_batches(
                BundleScorer,
                fn_constructor_kwargs={
                    "files_ref": files_ref,
                    "batch_size": self.batch_size,
                    "threads": self.threads_per_actor,
                },
                batch_size=self.commit_rows,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=actors),  # `concurrency=` is deprecated since Ray 2.51
                num_cpus=self.threads_per_actor,
            )
            log.info("ray: scoring %d posts with %d actors", pending.num_rows, actors)
            for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                yield batch.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA)
        finally:
            if started_here:
                ray.shutdown()
