"""Throughput and latency of the shipped bundle and its peers, in one run: exactly
`sentiment-fusion bench` (same code, same flags), runnable from a checkout.

    python benchmarks/bench.py --json          # last stdout line: one JSON object
    python benchmarks/bench.py --no-peers --seconds 2
"""

import sys

from sentiment_fusion.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
