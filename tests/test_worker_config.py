"""Connections the Temporal way (envconfig), and the worker's flags and environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from durable_responses import connection
from durable_responses.codec import ChainCodec, CompressionCodec, EncryptionCodec, new_key
from durable_responses.models import PollPolicy, ResponseRequest
from durable_responses.settings import ENVIRONMENT, WorkerSettings
from durable_responses.workflows import BackgroundResponseWorkflow
from tests.workers import ROOT, address_of, worker_process

CLOUD_TOML = """
[profile.default]
address = "localhost:7233"

[profile.cloud]
address = "my-ns.a1b2c.tmprl.cloud:7233"
namespace = "my-ns.a1b2c"
api_key = "key-from-file"
"""


def test_defaults_reach_a_local_dev_server():
    assert connection.connect_config(environ={}) == {
        "target_host": "localhost:7233",
        "namespace": "default",
    }


def test_environment_variables_configure_address_namespace_and_cloud_api_key():
    config = connection.connect_config(
        environ={
            "TEMPORAL_ADDRESS": "temporal:7233",
            "TEMPORAL_NAMESPACE": "research",
            "TEMPORAL_API_KEY": "secret",
        }
    )
    assert config["target_host"] == "temporal:7233"
    assert config["namespace"] == "research"
    assert config["api_key"] == "secret" and config["tls"] is True  # an API key implies TLS


def test_a_toml_profile_is_selected_by_name_and_flags_override_it(tmp_path: Path):
    toml = tmp_path / "temporal.toml"
    toml.write_text(CLOUD_TOML)
    env = {"TEMPORAL_CONFIG_FILE": str(toml), "TEMPORAL_PROFILE": "cloud"}
    config = connection.connect_config(environ=env)
    assert config["target_host"] == "my-ns.a1b2c.tmprl.cloud:7233"
    assert (config["namespace"], config["api_key"]) == ("my-ns.a1b2c", "key-from-file")
    overridden = connection.connect_config(environ=env, address="other:7233", namespace="n2")
    assert (overridden["target_host"], overridden["namespace"]) == ("other:7233", "n2")
    assert overridden["api_key"] == "key-from-file"


def test_mtls_client_certificate_and_key_are_read_from_their_files(tmp_path: Path):
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    config = connection.connect_config(
        environ={
            "TEMPORAL_ADDRESS": "my-ns.a1b2c.tmprl.cloud:7233",
            "TEMPORAL_TLS_CLIENT_CERT_PATH": str(cert),
            "TEMPORAL_TLS_CLIENT_KEY_PATH": str(key),
            "TEMPORAL_TLS_SERVER_NAME": "my-ns.a1b2c.tmprl.cloud",
        }
    )
    tls = config["tls"]
    assert not isinstance(tls, bool)
    assert (tls.client_cert, tls.client_private_key) == (b"CERT", b"KEY")
    assert tls.domain == "my-ns.a1b2c.tmprl.cloud"


def test_each_documented_temporal_variable_changes_the_connection(tmp_path: Path):
    pem = tmp_path / "some.pem"
    pem.write_bytes(b"PEM")
    toml = tmp_path / "temporal.toml"
    toml.write_text(
        '[profile.default]\nnamespace = "from-file"\n'
        '[profile.other]\naddress = "from-profile:7233"\n'
    )
    values = {
        "TEMPORAL_ADDRESS": "elsewhere:7233",
        "TEMPORAL_NAMESPACE": "other",
        "TEMPORAL_API_KEY": "key",
        "TEMPORAL_TLS": "true",
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(pem),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(pem),
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pem),
        "TEMPORAL_TLS_SERVER_NAME": "server.example",
        "TEMPORAL_CONFIG_FILE": str(toml),
    }
    assert set(values) | {"TEMPORAL_PROFILE"} == set(connection.ENVIRONMENT)
    default = connection.connect_config(environ={})
    for name, value in values.items():
        assert connection.connect_config(environ={name: value}) != default, name
    in_file = {"TEMPORAL_CONFIG_FILE": str(toml)}
    assert connection.connect_config(environ=in_file)["namespace"] == "from-file"
    chosen = connection.connect_config(environ={**in_file, "TEMPORAL_PROFILE": "other"})
    assert (chosen["target_host"], chosen["namespace"]) == ("from-profile:7233", "default")


def test_an_unknown_profile_is_a_clear_error(tmp_path: Path):
    toml = tmp_path / "temporal.toml"
    toml.write_text(CLOUD_TOML)
    with pytest.raises(connection.ConnectionConfigError, match="nope"):
        connection.connect_config(
            environ={"TEMPORAL_CONFIG_FILE": str(toml), "TEMPORAL_PROFILE": "nope"}
        )


async def test_worker_without_address_connects_through_a_toml_profile(
    dev_env, fake, fake_server, tmp_path: Path
):
    toml = tmp_path / "temporal.toml"
    toml.write_text(f'[profile.local]\naddress = "{address_of(dev_env)}"\nnamespace = "default"\n')
    task_queue = f"profile-{uuid.uuid4()}"
    with worker_process(
        None,
        task_queue,
        fake_server.base_url,
        ["--profile", "local"],
        TEMPORAL_CONFIG_FILE=str(toml),
    ):
        result = await dev_env.client.execute_workflow(
            BackgroundResponseWorkflow.run,
            ResponseRequest(
                input="reached through a profile", poll=PollPolicy(initial_interval_seconds=0.2)
            ),
            id=f"profile-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert result.status == "completed"


def test_worker_without_an_openai_key_stops_at_once_saying_so():
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "worker.py"), "--address", "127.0.0.1:1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "OPENAI_API_KEY" in done.stderr and "Traceback" not in done.stderr


# ---- the worker's own settings ------------------------------------------------------------------


def test_every_flag_defaults_to_its_environment_variable(monkeypatch):
    environment = {
        "DURABLE_RESPONSES_TASK_QUEUE": "q",
        "DURABLE_RESPONSES_METRICS_PORT": "9464",
        "DURABLE_RESPONSES_MAX_CONCURRENT_ACTIVITIES": "8",
        "DURABLE_RESPONSES_MAX_CACHED_WORKFLOWS": "4000",
        "DURABLE_RESPONSES_MAX_ACTIVITIES_PER_SECOND": "2.5",
        "DURABLE_RESPONSES_POLL_TASK_QUEUE": "q-polls",
        "DURABLE_RESPONSES_MAX_POLLS_PER_SECOND": "10",
        "DURABLE_RESPONSES_MODEL": "o4-mini",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318",
        "TEMPORAL_ADDRESS": "temporal:7233",
        "LOG_LEVEL": "DEBUG",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = WorkerSettings.from_args([])
    assert (settings.task_queue, settings.metrics_port, settings.otlp_endpoint) == (
        "q",
        9464,
        "http://jaeger:4318",
    )
    assert (settings.address, settings.model, settings.log_level) == (
        "temporal:7233",
        "o4-mini",
        "DEBUG",
    )
    assert settings.worker_limits(polls=False) == {
        "max_cached_workflows": 4000,
        "max_concurrent_activities": 8,
        "max_concurrent_local_activities": 8,
        "max_task_queue_activities_per_second": 2.5,
    }
    assert settings.worker_limits(polls=True) == {
        "max_concurrent_activities": 8,
        "max_task_queue_activities_per_second": 10.0,
    }
    assert set(environment) <= set(ENVIRONMENT)
    # A flag wins over its variable.
    assert WorkerSettings.from_args(["--task-queue", "flag-q"]).task_queue == "flag-q"


def test_empty_variables_count_as_unset(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.setenv(name, "")
    settings = WorkerSettings.from_args([])
    assert (settings.max_concurrent_activities, settings.metrics_port) == (0, 0)
    assert (settings.address, settings.log_level) == (None, "INFO")


def test_defaults_leave_metrics_tracing_and_limits_off(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    settings = WorkerSettings.from_args([])
    assert (settings.metrics_port, settings.otlp_endpoint, settings.poll_task_queue) == (
        0,
        None,
        None,
    )
    assert settings.worker_limits(polls=False) == {}


@pytest.mark.parametrize(
    ("argv", "environment", "message"),
    [
        (["--max-polls-per-second", "5"], {}, "--max-polls-per-second needs --poll-task-queue"),
        ([], {"DURABLE_RESPONSES_METRICS_PORT": "lots"}, "--metrics-port: Input should be"),
        (["--max-activities-per-second", "-1"], {}, "--max-activities-per-second: Input"),
    ],
)
def test_bad_settings_stop_the_worker_with_one_line(argv, environment, message):
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT} | environment
    done = subprocess.run(
        [sys.executable, str(ROOT / "worker.py"), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr


def test_help_names_each_flags_environment_variable():
    done = subprocess.run(
        [sys.executable, "-m", "durable_responses.worker", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for name, variable in (
        ("task-queue", "DURABLE_RESPONSES_TASK_QUEUE"),
        ("address", "TEMPORAL_ADDRESS"),
    ):
        assert f"--{name}" in text and f"[env {variable}]" in text


def test_worker_environment_lists_exactly_the_variables_the_code_reads():
    # Names the code reads itself, those the settings model reads, and those the SDKs read.
    sources = [
        "durable_responses/worker.py",
        "durable_responses/connection.py",
        "durable_responses/codec.py",
        "durable_responses/telemetry.py",
        "activities/responses.py",
        "durable_responses/webhooks/app.py",  # the receiver, served by --webhook-port
    ]
    read = set()
    for source in sources:
        text = (ROOT / source).read_text()
        read |= set(re.findall(r'environ(?:\.get\(|\[)\s*"([A-Z][A-Z0-9_]+)"', text))
    indirect = (
        set(connection.ENVIRONMENT)
        | set(connection.PAYLOAD_ENVIRONMENT)
        | set(WorkerSettings.environment())
        | {"OPENAI_API_KEY", "OPENAI_BASE_URL", "OTEL_SERVICE_NAME", "OPENAI_WEBHOOK_SECRET"}
    )
    assert read <= indirect
    assert indirect == set(ENVIRONMENT)


# ---- payload codec from the environment ---------------------------------------------------------


def test_payloads_stay_plain_json_unless_the_environment_asks_for_a_codec():
    assert connection.payload_codec({}) is None
    compressed = connection.payload_codec({"DURABLE_RESPONSES_COMPRESSION": "on"})
    assert isinstance(compressed, CompressionCodec)


def test_codec_keys_turn_on_compression_and_encryption(tmp_path: Path):
    ring = f"old:{new_key()},new:{new_key()}"
    chain = connection.payload_codec({"DURABLE_RESPONSES_CODEC_KEYS": ring})
    assert isinstance(chain, ChainCodec)
    assert [type(c) for c in chain.codecs] == [CompressionCodec, EncryptionCodec]
    secret = tmp_path / "codec_keys"
    secret.write_text(ring + "\n")
    from_file = connection.payload_codec(
        {"DURABLE_RESPONSES_CODEC_KEYS_FILE": str(secret), "DURABLE_RESPONSES_COMPRESSION": "off"}
    )
    assert isinstance(from_file, EncryptionCodec)


@pytest.mark.parametrize(
    "environ",
    [
        {"DURABLE_RESPONSES_CODEC_KEYS": "k1:not-a-key"},
        {"DURABLE_RESPONSES_CODEC_KEYS_FILE": "/nonexistent/codec_keys"},
        {"DURABLE_RESPONSES_COMPRESSION": "maybe"},
    ],
)
def test_a_bad_codec_setting_is_a_clear_error(environ):
    with pytest.raises(connection.ConnectionConfigError) as err:
        connection.payload_codec(environ)
    assert "not-a-key" not in str(err.value)
