#!/bin/sh
# The container's runtime install, step for step: a virtualenv holding the wheel (with its
# default model bundle) and the given extras, by default serve,insights: ONNX Runtime
# inference, the HTTP service, the DuckDB store (duckdb + pyarrow). No torch, no training or
# benchmark extras.
#
# Usage: install-runtime.sh VENV WHEEL [EXTRAS]
# The Dockerfile's runtime stage runs exactly this; tests/e2e/test_packaging.py runs it into a
# fresh venv outside the repository (no container engine is needed to check it).
set -eu
venv=$1
wheel=$2
extras=${3:-serve,insights}

python3 -m venv "$venv"
"$venv/bin/pip" install "${wheel}[${extras}]"
# Refuse an image that would drag in the training stack (the inference path must not need it).
"$venv/bin/python" -c 'import importlib.util, sys; sys.exit("torch is installed" if importlib.util.find_spec("torch") else 0)'
"$venv/bin/sentiment-fusion" --version
