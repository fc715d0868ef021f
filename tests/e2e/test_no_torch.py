"""Serving and predicting never need torch (the design's promise for a small serving install).

A fresh interpreter gets an import hook that makes ``import torch`` fail as if torch were not
installed, and records every attempt. In it: load the shipped default bundle, predict text,
image and both, and answer HTTP requests from the real app (lifespan, model loading, routes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from helpers.paths import DEFAULT_BUNDLE, REPO

BLOCK_TORCH = textwrap.dedent("""
    import sys

    class NoTorch:
        attempts = []

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "torch":
                NoTorch.attempts.append(name)
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())
""")

SCENARIO = textwrap.dedent("""
    import io, json
    from PIL import Image

    def jpeg(color):
        buffer = io.BytesIO()
        Image.new("RGB", (96, 64), color).save(buffer, "JPEG")
        return buffer.getvalue()

    try:
        import torch  # the hook works: torch is absent here
        raise SystemExit("torch could be imported")
    except ImportError:
        NoTorch.attempts.clear()

    import sentiment_fusion
    analyzer = sentiment_fusion.load()
    text = analyzer.predict(text="I love this phone")
    image = analyzer.predict(image=jpeg((30, 200, 30)))
    both = analyzer.predict_batch(["Worst service ever", None], [jpeg((200, 30, 30)), jpeg((128, 128, 128))])

    import base64
    from fastapi.testclient import TestClient
    from sentiment_fusion.api.config import Settings
    from sentiment_fusion.api.main import create_app

    with TestClient(create_app(Settings(load_in_background=False))) as client:
        ready = client.get("/readyz").status_code
        green = base64.b64encode(jpeg((30, 200, 30))).decode()
        answer = client.post("/v1/predict", json={"text": "great day", "image": green})
        bad = client.post("/v1/predict", json={"text": "   "})
    print(json.dumps({
        "sources": [text.source, image.source, both[0].source, both[1].source],
        "ready": ready, "status": answer.status_code, "body": answer.json(), "bad": bad.status_code,
        "torch_attempts": NoTorch.attempts,
        "torch_loaded": sorted(m for m in sys.modules if m.split(".")[0] == "torch"),
    }))
""")


@pytest.mark.skipif(not (DEFAULT_BUNDLE / "manifest.json").is_file(), reason=f"no default bundle at {DEFAULT_BUNDLE}")
def test_load_predict_and_serve_without_torch():
    run = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + SCENARIO],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**_clean_env(), "SENTIMENT_FUSION_INFERENCE_THREADS": "1"},
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["sources"] == ["text", "image", "fusion", "image"]
    assert result["ready"] == 200
    assert result["status"] == 200 and result["body"]["source"] == "fusion", result["body"]
    assert result["bad"] == 422
    assert result["torch_attempts"] == [] and result["torch_loaded"] == []


def _clean_env() -> dict:
    import os

    # The default bundle, whatever the caller's environment names.
    return {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_FUSION_")}
