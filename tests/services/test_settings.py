from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from services.settings import SettingsError, load_settings


def test_defaults_match_the_readme_contract() -> None:
    settings = load_settings({})
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.expected_workers == 1
    assert settings.max_upload_bytes == 10 * 1024 * 1024
    assert settings.request_timeout_s == 30
    assert settings.queue_max_len == 1000
    assert settings.model_name == "efficientnet-lite0"
    assert settings.model_weights is None
    assert settings.runtime == "onnxruntime"
    assert settings.device == "cpu"
    assert settings.num_threads == 1
    assert settings.max_batch == 16
    assert settings.max_wait_ms is None  # chosen by each worker from its measurements
    assert settings.stall_timeout_s == 10
    assert settings.gpu_mem_limit_mib is None
    assert settings.model_cache_dir == Path("~/.cache/inference-loadbench").expanduser()
    assert settings.heartbeat_ttl_s == 5


def test_worker_ids_differ_even_for_one_host_and_pid() -> None:
    # Replicas on the host network share the hostname, and each container's worker may be pid 1.
    first, second = load_settings({}).worker_id, load_settings({}).worker_id
    assert first != second
    assert first.startswith(f"{socket.gethostname()}-{os.getpid()}-")
    assert load_settings({"WORKER_ID": "model-3"}).worker_id == "model-3"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_BATCH", "0"),
        ("MAX_BATCH", "sixteen"),
        ("NUM_THREADS", "-1"),
        ("MAX_WAIT_MS", "-5"),
        ("MAX_WAIT_MS", "nan"),
        ("REQUEST_TIMEOUT_S", "inf"),
        ("QUEUE_MAX_LEN", "1.5"),
        ("HEARTBEAT_TTL_S", "0.1"),
        ("RUNTIME", "tensorrt"),
        ("DEVICE", "gpu"),
        ("MODEL_NAME", "vgg16"),
        ("REDIS_URL", "localhost:6379"),
        ("MODEL_WEIGHTS", "/no/such/file.pth"),
    ],
)
def test_bad_values_name_their_variable(name: str, value: str) -> None:
    environ = {name: value}
    if name == "MODEL_WEIGHTS":
        environ["MODEL_NAME"] = "resnet50"
    with pytest.raises(SettingsError, match=name):
        load_settings(environ)


def test_weights_are_refused_for_a_model_that_ships_its_own(tmp_path: Path) -> None:
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"x")
    with pytest.raises(SettingsError, match="MODEL_WEIGHTS"):
        load_settings({"MODEL_WEIGHTS": str(weights)})
    assert load_settings({"MODEL_WEIGHTS": str(weights), "MODEL_NAME": "resnet50"}).model_weights
