# The durable-responses worker (and demo) image.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY activities ./activities
COPY workflows ./workflows
COPY fake_openai ./fake_openai
COPY worker.py demo.py ./
RUN pip install --no-cache-dir .
# SIGTERM triggers the worker's graceful shutdown: running stream chunks hand over at once.
STOPSIGNAL SIGTERM
CMD ["python", "worker.py"]
