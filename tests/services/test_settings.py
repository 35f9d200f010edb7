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


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    """Settings only check that the file can be read; the worker reads the model in it."""
    path = tmp_path / "model.onnx"
    path.write_bytes(b"an ONNX file")
    return path


def test_the_users_onnx_model_has_defaults(onnx_file: Path) -> None:
    settings = load_settings({"MODEL_NAME": "onnx", "MODEL_PATH": str(onnx_file)})
    assert settings.onnx_model is not None
    assert settings.onnx_model.path == onnx_file
    assert settings.onnx_model.input_size is None  # the model's own; 224 where it is dynamic
    assert settings.onnx_model.resize is None  # the input's side / 0.875
    assert settings.onnx_model.mean == (0.485, 0.456, 0.406)
    assert settings.onnx_model.std == (0.229, 0.224, 0.225)
    assert settings.onnx_model.labels is None
    assert load_settings({}).onnx_model is None


def test_the_users_normalisation_is_read_per_channel(onnx_file: Path) -> None:
    settings = load_settings(
        {
            "MODEL_NAME": "onnx",
            "MODEL_PATH": str(onnx_file),
            "MODEL_MEAN": "0.5, 0.25,0",
            "MODEL_STD": "1,0.5,0.125",
            "MODEL_INPUT_SIZE": "64",
            "MODEL_RESIZE": "80",
            "MODEL_LABELS": str(onnx_file),
        }
    )
    assert settings.onnx_model is not None
    assert settings.onnx_model.mean == (0.5, 0.25, 0.0)
    assert settings.onnx_model.std == (1.0, 0.5, 0.125)
    assert (settings.onnx_model.input_size, settings.onnx_model.resize) == (64, 80)
    assert settings.onnx_model.labels == onnx_file


def test_model_name_onnx_needs_model_path() -> None:
    with pytest.raises(SettingsError, match="MODEL_PATH"):
        load_settings({"MODEL_NAME": "onnx"})


def test_an_onnx_file_is_only_served_by_onnxruntime(onnx_file: Path) -> None:
    with pytest.raises(SettingsError, match="RUNTIME"):
        load_settings({"MODEL_NAME": "onnx", "MODEL_PATH": str(onnx_file), "RUNTIME": "torch"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MODEL_PATH", "/no/such/model.onnx"),
        ("MODEL_INPUT_SIZE", "0"),
        ("MODEL_INPUT_SIZE", "224px"),
        ("MODEL_RESIZE", "-256"),
        ("MODEL_MEAN", "0.485,0.456"),
        ("MODEL_MEAN", "123.7,116.3,103.5"),
        ("MODEL_MEAN", "red,green,blue"),
        ("MODEL_MEAN", "nan,0.5,0.5"),
        ("MODEL_STD", "0,0.224,0.225"),
        ("MODEL_STD", "0.229,0.224,0.225,0.1"),
        ("MODEL_LABELS", "/no/such/labels.txt"),
    ],
)
def test_bad_onnx_model_values_name_their_variable(onnx_file: Path, name: str, value: str) -> None:
    environ = {"MODEL_NAME": "onnx", "MODEL_PATH": str(onnx_file), name: value}
    with pytest.raises(SettingsError, match=name):
        load_settings(environ)


@pytest.mark.parametrize("name", ["MODEL_PATH", "MODEL_MEAN", "MODEL_LABELS"])
def test_onnx_model_variables_are_refused_for_the_built_in_models(
    onnx_file: Path, name: str
) -> None:
    value = "0.5,0.5,0.5" if name == "MODEL_MEAN" else str(onnx_file)
    with pytest.raises(SettingsError, match=f"{name} is only read for MODEL_NAME=onnx"):
        load_settings({"MODEL_NAME": "resnet50", name: value})
