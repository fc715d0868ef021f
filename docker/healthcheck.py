"""The container's HEALTHCHECK: exit 0 when ``/readyz`` answers 200 (the model is loaded), else 1.

Standard library only (the image has no curl). ``python healthcheck.py [URL]``; the default is
the port the image's default command serves on.
"""

import sys
import urllib.error
import urllib.request

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/readyz"
try:
    with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - a fixed local URL
        sys.exit(0 if response.status == 200 else 1)
except (urllib.error.URLError, OSError) as exc:
    print(f"not ready: {exc}", file=sys.stderr)
    sys.exit(1)
