"""The one place that builds and runs ONNX Runtime sessions (text graph, image encoder, heads).

How the cores are used (measured on 2 cores, bundle 1.2.0, see the README's speed section):
every session runs on ONE thread, and a call's independent chunks (texts sorted by length,
groups of images) run side by side on ``threads`` worker threads (ONNX Runtime and Pillow
release the GIL). Against one session with two intra-op threads this was 1.3x (texts) and
1.9x (images) faster at batch 32 on a busy machine: no spinning thread pools fighting each
other or the server, and no per-op synchronisation. Batch invariance makes the split free: a
post gets the same scores in any chunk.

A call that is one chunk (a single image) would leave the other cores idle: the image encoder
keeps a second session with ``threads`` intra-op threads for it (:func:`onnx_session`'s
``threads``). Its integer convolutions split the output, never a sum, so the features are the
same to the bit (tests/core/test_batch_invariance.py).

ONNX Runtime's ``SkipLayerNormFusion`` is switched off: its fused kernel took 14% of the text
graph's time at batch 16 here, against 5% for the plain ``Add`` + ``LayerNormalization`` it
replaces (the graphs run 10-15% faster; bundle 1.4.0's figures were measured this way). Float
sums in another order move a few logits: on TweetEval val, 4.5% of tweets by at most 0.16
(mean 0.0014), and no answer changed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from .errors import BundleError

T = TypeVar("T")


def default_threads() -> int:
    return min(4, os.cpu_count() or 1)


def session_options(threads: int = 1):
    """The runtime's ONNX Runtime session options: ``threads`` intra-op threads, ``SkipLayerNormFusion``
    off (benchmarks that profile a graph start from these, to profile what the runtime runs)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("optimization.disable_specified_optimizers", "SkipLayerNormFusion")
    return options


def onnx_session(path: str | os.PathLike, threads: int = 1, options=None):
    """An ONNX Runtime CPU session for the graph at ``path`` on ``threads`` intra-op threads
    (default one), with :func:`session_options` unless ``options`` are given (unloadable: BundleError)."""
    import onnxruntime as ort

    options = options or session_options(threads)
    try:
        return ort.InferenceSession(str(Path(path)), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise BundleError(f"{path}: not a loadable ONNX graph ({exc})") from exc


class Workers:
    """Runs the chunks of one call side by side on up to ``threads`` threads (one chunk: inline)."""

    def __init__(self, threads: int | None = None) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        self.threads = threads or default_threads()
        self._pool: ThreadPoolExecutor | None = None  # made on first use

    def split(self, n: int, batch_size: int) -> list[range]:
        """``range(n)`` cut into consecutive chunks of at most ``batch_size``, and into at least
        as many chunks as there are threads when ``n`` allows (so batch 32 uses every core)."""
        count = max(math.ceil(n / batch_size), min(self.threads, n))
        size = math.ceil(n / count) if n else 0
        return [range(start, min(start + size, n)) for start in range(0, n, size)] if n else []

    def map(self, fn: Callable[[range], T], chunks: Sequence[range]) -> list[T]:
        if len(chunks) <= 1 or self.threads == 1:
            return [fn(chunk) for chunk in chunks]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="sentiment-fusion")
        return list(self._pool.map(fn, chunks))  # re-raises the first chunk's error
