# syntax=docker/dockerfile:1
# sentiment-fusion HTTP API as a container: docker build -t sentiment-fusion . && docker run -p 8000:8000 sentiment-fusion
#
# Two stages. "build" makes the wheel, which carries the default model bundle (setup.py copies
# models/default into it). "runtime" is a slim Python with one virtualenv holding that wheel and
# the [serve,insights] extras: ONNX Runtime, FastAPI/uvicorn and DuckDB; no torch, no compilers,
# no source tree, no pip cache. Its install step is docker/install-runtime.sh, the same script that
# tests/e2e/test_packaging.py runs in a fresh venv. Settings: SENTIMENT_FUSION_* environment variables
# (src/sentiment_fusion/api/config.py), e.g. docker run -e SENTIMENT_FUSION_API_KEYS=k1,k2 ...
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md CHANGELOG.md ./
COPY src/ src/
COPY models/default/ models/default/
RUN pip wheel --no-deps --wheel-dir /dist .

FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
# insights = the DuckDB store (duckdb + pyarrow, ~240 MB of the venv's ~540 MB); an image
# that only predicts and serves: docker build --build-arg EXTRAS=serve .
ARG EXTRAS=serve,insights
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
# The wheel and the install script are bind-mounted for this one step, so neither stays in a layer.
RUN --mount=type=bind,from=build,source=/dist,target=/tmp/dist \
    --mount=type=bind,source=docker/install-runtime.sh,target=/tmp/install-runtime.sh \
    sh /tmp/install-runtime.sh /opt/venv /tmp/dist/sentiment_fusion-*.whl "${EXTRAS}"
COPY docker/healthcheck.py /opt/sentiment-fusion/healthcheck.py
# A non-root user that owns only /data: the DuckDB store (analyze --db /data/posts.duckdb) lives
# on a volume there, so it outlives the container.
RUN groupadd --system --gid "${APP_UID}" app \
    && useradd --system --no-log-init --uid "${APP_UID}" --gid app --home-dir /data --no-create-home --shell /usr/sbin/nologin app \
    && mkdir /data \
    && chown app:app /data
WORKDIR /data
VOLUME ["/data"]
# Numeric, so that a platform can check "not root" without reading /etc/passwd (runAsNonRoot).
USER ${APP_UID}:${APP_UID}
EXPOSE 8000
# /readyz is 503 until the model is loaded (a few seconds); the start period covers that.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "/opt/sentiment-fusion/healthcheck.py"]
CMD ["sentiment-fusion", "serve", "--host", "0.0.0.0", "--port", "8000"]
