"""Start the HTTP service (the original design's entry point): ``python app.py [--host --port --workers --model]``.

Same as ``sentiment-fusion serve``; settings come from SENTIMENT_FUSION_* environment variables.
"""

import sys

from sentiment_fusion.api.server import main

if __name__ == "__main__":
    sys.exit(main())
