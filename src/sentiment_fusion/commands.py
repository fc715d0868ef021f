"""How every console command ends: what goes wrong becomes one line on stderr and an exit status.

Shared by ``sentiment-fusion`` (:mod:`sentiment_fusion.cli`) and the stand-alone
``python -m sentiment_fusion.insights.cli``, so neither imports the other.
"""

from __future__ import annotations

import os
import sys

from .errors import SentimentFusionError


def run_command(args) -> int:
    """Run the parsed command ``args.func(args)`` and return its exit status."""
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (SentimentFusionError, ValueError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
