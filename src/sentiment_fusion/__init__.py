"""sentiment-fusion: negative / neutral / positive sentiment of social-media posts
from their text, their image, or both, with calibrated probabilities.

>>> import sentiment_fusion
>>> analyzer = sentiment_fusion.load()          # the shipped default bundle
>>> analyzer.predict(text="I love this phone").sentiment
<Sentiment.POSITIVE: 2>

Importing this package loads nothing: models are read only by :func:`load`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .labels import LABELS, Sentiment

__version__ = "0.1.0"
__all__ = ["LABELS", "Analyzer", "Prediction", "Sentiment", "__version__", "load"]

if TYPE_CHECKING:  # pragma: no cover
    from .runtime import Analyzer, Prediction


def load(path=None, **kwargs) -> Analyzer:
    """Load a model bundle (the shipped default when ``path`` is None) for inference."""
    from .runtime import Analyzer

    return Analyzer.load(path, **kwargs)


def __getattr__(name: str):
    # Lazy so that `import sentiment_fusion` stays free of onnxruntime start-up cost.
    if name in {"Analyzer", "Prediction"}:
        from . import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'sentiment_fusion' has no attribute {name!r}")
