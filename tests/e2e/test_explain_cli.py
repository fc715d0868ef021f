"""``sentiment-fusion predict --explain / --explain-image / --json`` on the real default bundle."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from sentiment_fusion.cli import main

TEXT = "Worst airline ever 😡 #neveragain lost my bag"


@pytest.fixture(scope="module")
def photo(tmp_path_factory, default_bundle):
    path = tmp_path_factory.mktemp("explain") / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(path)
    return path


def test_explain_prints_coloured_words_grid_and_modalities(photo, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich colours even though stdout is captured
    overlay = tmp_path / "overlay.png"
    assert main(["predict", "--text", TEXT, "--image", str(photo), "--explain-image", str(overlay)]) == 0
    out = capsys.readouterr().out
    assert "why negative:" in out and "strongest words: Worst +" in out
    assert "\x1b[" in out.split("why negative:")[1].splitlines()[1]  # the text line is coloured
    grid = [line for line in out.splitlines() if line.startswith("    ") and line.count(".") == 7]
    assert len(grid) == 7
    assert "without text: negative" in out and "without image: negative" in out
    with Image.open(overlay) as image:
        assert image.format == "PNG" and image.size == (320, 240)


def test_json_holds_the_whole_explanation(photo, capsys):
    assert main(["predict", "--text", TEXT, "--image", str(photo), "--explain", "--json"]) == 0
    body = json.loads(capsys.readouterr().out.splitlines()[-1])
    words = body["explanation"]["words"]
    assert [TEXT[w["start"] : w["end"]] for w in words] == [w["text"] for w in words]
    assert "😡" in [w["text"] for w in words] and "#neveragain" in [w["text"] for w in words]
    assert len(body["explanation"]["image"]["grid"]) == 7
    png = base64.b64decode(body["explanation"]["image"]["overlay_png"])
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert set(body["explanation"]["modalities"]) == {"text", "image"}
    assert main(["predict", "--text", TEXT, "--json"]) == 0
    assert "explanation" not in json.loads(capsys.readouterr().out)


def test_explain_image_needs_an_image(tmp_path, capsys):
    assert main(["predict", "--text", TEXT, "--explain-image", str(tmp_path / "x.png")]) == 2
    assert "--image" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
